"""The `nnplay` command: `nnplay serve` starts the server, `nnplay run CONFIG.json` trains locally,
`nnplay sweep SPEC.json` runs a sweep on a server (its own local one unless --url) and writes its table."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.settings import Settings

    if args.data_dir is not None:
        os.environ["NNPLAY_DATA_DIR"] = str(args.data_dir)
    if args.host is not None:
        os.environ["NNPLAY_HOST"] = args.host
    settings = Settings()
    uvicorn.run(
        "server.app:app",
        host=settings.host,
        port=settings.port if args.port is None else args.port,
        reload=args.reload,
        log_level=args.log_level,
        ws_max_size=max(4 * settings.max_ws_message_bytes, 1 << 20),
        ws_per_message_deflate=settings.ws_compression,
        timeout_graceful_shutdown=5,
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.config import RunConfig
    from engine.trainer import Trainer
    from server.errors import readable, summary
    from server.report import slim, write_report
    from server.worker import weights_npz

    try:
        config = RunConfig.model_validate_json(args.config.read_text(encoding="utf-8"))
    except OSError as error:
        print(f"nnplay: cannot read {args.config}: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        print(f"nnplay: {args.config}: {summary(readable(error.errors(include_url=False)))}", file=sys.stderr)
        return 2
    try:
        csv_text = args.csv.read_text(encoding="utf-8") if args.csv else None
        trainer = Trainer(config, csv_text=csv_text)
    except (OSError, ValueError) as error:
        print(f"nnplay: cannot build the run: {error}", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
    records, last_boundary = [], None
    with (
        gzip.open(out / "epochs.jsonl.gz", "wt", encoding="utf-8") as lines,
        tqdm(total=config.training.epochs, unit="epoch", disable=args.quiet) as bar,
    ):
        for record in trainer.epochs():
            data = record.model_dump(mode="json") if record.heavy else record.scalars()
            lines.write(json.dumps(data, separators=(",", ":")) + "\n")
            records.append(slim(data))
            last_boundary = data.get("boundary") or last_boundary
            bar.update(1)
            bar.set_postfix(
                loss=_short(record.train_loss),
                test_loss=_short(record.test_loss),
                **{record.metric: _short(record.test_metric)},
            )
    (out / "model.npz").write_bytes(weights_npz(trainer.model.state_dict()))
    if args.html:
        write_report(
            args.html, config.model_dump(mode="json"), records, trainer.status, trainer.message, last_boundary
        )
    last = records[-1] if records else {}
    written = ", ".join(str(path) for path in (out / "epochs.jsonl.gz", out / "model.npz", args.html) if path)
    print(
        f"{trainer.status}{': ' + trainer.message if trainer.message else ''} after {len(records)} epochs; "
        f"test {last.get('metric')} {_short(last.get('test_metric'))}; wrote {written}"
    )
    return 0


def sweep(args: argparse.Namespace) -> int:
    import tempfile

    import httpx
    from tqdm import tqdm

    from server.client import Client, ClientError
    from server.local import LocalServer

    try:
        spec = json.loads(args.spec.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"nnplay: cannot read {args.spec}: {error}", file=sys.stderr)
        return 2
    local = None
    with tempfile.TemporaryDirectory(prefix="nnplay-sweep-") as data_dir:
        try:
            if args.url is None:
                env = {"NNPLAY_EXECUTOR": args.executor}
                if args.scheduler:
                    env["NNPLAY_DASK_SCHEDULER"] = args.scheduler
                local = LocalServer(args.data_dir or data_dir, env).start()
            with Client(args.url or local.url, token=args.token or os.environ.get("NNPLAY_TOKEN")) as client:
                sweep_id = client.sweep(spec)["id"]
                with tqdm(total=client.sweep_table(sweep_id)["total"], unit="run", disable=args.quiet) as bar:
                    for progress in client.sweep_progress(sweep_id):
                        bar.update(progress["finished"] - bar.n)
                table = client.sweep_table(sweep_id)
                args.out.write_text(client.sweep_csv(sweep_id), encoding="utf-8")
        except ClientError as error:
            print(f"nnplay: {args.spec}: {error.message} (HTTP {error.status})", file=sys.stderr)
            return 2
        except (OSError, RuntimeError, httpx.HTTPError) as error:
            print(f"nnplay: {error}", file=sys.stderr)
            return 1
        finally:
            if local is not None:
                local.stop()
    counts: dict[str, int] = {}
    for row in table["runs"]:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    summary_text = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    print(f"sweep {table['id']} {table['status']}: {summary_text}; wrote {args.out}")
    return 0 if table["status"] == "completed" else 1


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="nnplay", description="nnplay: an interactive neural-network playground."
    )
    commands = root.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="start the web server (browser app, REST API, websocket)")
    serve_cmd.add_argument("--host", help="default NNPLAY_HOST or 127.0.0.1")
    serve_cmd.add_argument("--port", type=int, help="default NNPLAY_PORT or 8000")
    serve_cmd.add_argument("--data-dir", type=Path, help="where runs are stored (NNPLAY_DATA_DIR)")
    serve_cmd.add_argument("--reload", action="store_true", help="restart when the code changes")
    serve_cmd.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve_cmd.set_defaults(handler=serve)
    run_cmd = commands.add_parser("run", help="train a RunConfig (JSON) locally")
    run_cmd.add_argument("config", type=Path, help="a RunConfig as JSON")
    run_cmd.add_argument(
        "--out", type=Path, default=Path("nnplay-run"), help="output folder (default nnplay-run)"
    )
    run_cmd.add_argument("--html", type=Path, help="also write a standalone Plotly report here")
    run_cmd.add_argument("--csv", type=Path, help="the CSV file for dataset 'csv'")
    run_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    run_cmd.set_defaults(handler=run)
    sweep_cmd = commands.add_parser("sweep", help="run a sweep (JSON spec) and write its table as CSV")
    sweep_cmd.add_argument("spec", type=Path, help="a sweep as JSON: base, axes, mode, budget, concurrency")
    where = sweep_cmd.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running nnplay server (default: start a local one)")
    where.add_argument(
        "--executor", choices=["local", "dask"], default="local", help="the local server's NNPLAY_EXECUTOR"
    )
    sweep_cmd.add_argument("--scheduler", help="with --executor dask: tcp://host:8786 (else LocalCluster)")
    sweep_cmd.add_argument("--token", help="the server's NNPLAY_TOKEN (default $NNPLAY_TOKEN)")
    sweep_cmd.add_argument("--data-dir", type=Path, help="the local server's data dir (default: temporary)")
    sweep_cmd.add_argument(
        "--out", type=Path, default=Path("sweep.csv"), help="the table as CSV (default sweep.csv)"
    )
    sweep_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep_cmd.set_defaults(handler=sweep)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
