"""The `nnplay` command: `nnplay serve` starts the server, `nnplay run CONFIG.json` trains locally."""

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
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
