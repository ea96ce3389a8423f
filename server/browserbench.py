"""python -m server.browserbench: the playground in Chromium while a default circle run trains.

Each round trains the default circle run in the page twice, once with the top of the page in view and
once with the histograms in view, and the same run on the engine alone (one process at the workers'
nice, as the server runs it) before, between and after, so each page run is compared with the engine
next to it in time. The page measures itself: the epochs its websocket receives, the heavy frames among
them, every animation frame (fps, the worst frame after the first second of training), long tasks
(PerformanceObserver 'longtask') and, with the top in view, the latency of clicks on the loss chart's log
toggle and the boundary's test toggle (from the pointer going down to the end of the next frame after the
click's handlers). With several --worker-nice values, one server per value runs its workers at that nice
and each round runs every view on each server in turn, so the values are compared interleaved.
Beside each page run it prints the nice its worker was seen at and the CPU share (% of one core) of each
process group from /proc: the run's worker, the server, Chromium's renderer, GPU and browser (with its
other helpers), the Playwright driver and this benchmark.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.bench import _children, bench_config, cpu_seconds, engine_alone
from server.local import LocalServer
from server.settings import Settings

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
STEADY_AFTER_MS = 1000
CLICKS = ("#log-loss", "#show-test", "#log-loss", "#show-test")
GROUPS = ("worker", "server", "renderer", "gpu", "browser", "driver", "bench")
CPU_SAMPLE_SECONDS = 0.25

PROBE = r"""(() => {
  const bench = { frames: [], longTasks: [], clicks: [], epochs: [], heavy: [], done: null };
  window.__bench = bench;
  const frame = (time) => { bench.frames.push(time); requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) bench.longTasks.push([entry.startTime, entry.duration]);
  }).observe({ type: "longtask", buffered: true });
  let pressed = null;
  document.addEventListener("pointerdown", (event) => { pressed = event.timeStamp; }, true);
  document.addEventListener("click", () => {
    const since = pressed;
    requestAnimationFrame(() => setTimeout(() => bench.clicks.push(performance.now() - since), 0));
  }, true);
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const text = event.data;
        const at = performance.now();
        const head = text.slice(0, 20);
        if (/^\{"type": ?"done"/.test(head)) bench.done = at;
        if (!head.startsWith('{"type":"epoch')) return;
        const last = text.lastIndexOf('{"epoch":');
        if (last >= 0) bench.epochs.push([at, parseInt(text.slice(last + 9, last + 20), 10)]);
        if (text.includes('"layers":[')) bench.heavy.push(at);
      });
    }
  };
})();"""

RESET = """() => {
  const bench = window.__bench;
  for (const list of [bench.frames, bench.longTasks, bench.clicks, bench.epochs, bench.heavy]) {
    list.length = 0;
  }
  bench.done = null;
  return performance.now();
}"""


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def process_group(command: str, pid: int, server_pid: int) -> str | None:
    """Which group of the benchmark a process (a descendant of this one) belongs to, from its command line."""
    if pid == server_pid:
        return "server"
    if pid == os.getpid():
        return "bench"
    if "server.worker" in command:
        return "worker"
    if "--type=renderer" in command:
        return "renderer"
    if "--type=gpu-process" in command:
        return "gpu"
    if "run-driver" in command:
        return "driver"
    if "chrom" in command:
        return "browser"
    return None


class CpuMonitor:
    """CPU seconds of each group of this process's descendants between `start` and `stop`, sampled from /proc.

    Samples every CPU_SAMPLE_SECONDS so a process that exits in between still counts up to its last sample;
    one born after `start` counts from zero. Other servers (another --worker-nice) and their workers are left
    out.
    """

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.first: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.worker_nices: dict[int, int] = {}
        self.started = self.seconds = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> dict[int, tuple[str, float]]:
        found, todo = {}, [os.getpid()]
        while todo:
            pid = todo.pop()
            command = _command(pid)
            if "server.cli" in command and pid != self.server_pid:
                continue
            todo += _children(pid)
            group = process_group(command, pid, self.server_pid)
            if group is None:
                continue
            try:
                found[pid] = group, cpu_seconds(pid)
                if group == "worker":
                    self.worker_nices[pid] = os.getpriority(os.PRIO_PROCESS, pid)
            except (OSError, IndexError):
                continue
        return found

    def start(self) -> None:
        self.first = {pid: cpu for pid, (_, cpu) in self.sample().items()}
        self.last = {}
        self.worker_nices = {}
        self.started = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(CPU_SAMPLE_SECONDS):
            self.last.update(self.sample())

    def stop(self) -> dict[str, float]:
        """Each group's CPU share over the time since `start`, in % of one core."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.last.update(self.sample())
        self.seconds = time.perf_counter() - self.started
        shares = dict.fromkeys(GROUPS, 0.0)
        for pid, (group, cpu) in self.last.items():
            shares[group] += cpu - self.first.get(pid, 0.0)
        return {group: 100 * cpu / self.seconds for group, cpu in shares.items()}


def cpu_line(shares: dict[str, float]) -> str:
    return "  cpu % of a core: " + "  ".join(f"{group} {shares[group]:.0f}" for group in GROUPS)


@dataclass
class PageRun:
    view: str
    nice: int = 0
    epochs: int = 0
    rate: float = 0.0
    heavy_rate: float = 0.0
    engine_rate: float = 0.0
    fps: float = 0.0
    worst_frame: float = 0.0
    long_tasks: list[float] = field(default_factory=list)
    steady_long_tasks: list[float] = field(default_factory=list)
    clicks: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.rate / self.engine_rate if self.engine_rate else 0.0


def measure(data: dict[str, Any], view: str) -> PageRun:
    """The figures of one page run from what the probe recorded."""
    epochs, frames = data["epochs"], data["frames"]
    if not epochs or data["done"] is None:
        raise RuntimeError("the page received no epochs or no end of the run")
    first = epochs[0]
    last = max(epochs, key=lambda entry: (entry[1], -entry[0]))
    start, end = first[0], data["done"]
    result = PageRun(view, epochs=last[1])
    if last[0] > first[0]:
        result.rate = 1000 * (last[1] - first[1]) / (last[0] - first[0])
    heavy = [time for time in data.get("heavy", []) if start <= time <= end]
    if end > start:
        result.heavy_rate = 1000 * len(heavy) / (end - start)
    shown = [time for time in frames if start <= time <= end]
    if len(shown) > 1:
        result.fps = 1000 * (len(shown) - 1) / (shown[-1] - shown[0])
    steady = start + STEADY_AFTER_MS
    gaps = [b - a for a, b in zip(frames, frames[1:], strict=False) if a >= steady and b <= end]
    result.worst_frame = max(gaps, default=0.0)
    result.long_tasks = [duration for begin, duration in data["longTasks"] if start <= begin <= end]
    result.steady_long_tasks = [duration for begin, duration in data["longTasks"] if steady <= begin <= end]
    result.clicks = data["clicks"]
    return result


def page_run(
    browser: Any, url: str, epochs: int, view: str, viewport: dict[str, int], monitor: CpuMonitor
) -> PageRun:
    """Open the playground, train `epochs` epochs of the default run with `view` in sight, measure."""
    context = browser.new_context(viewport=viewport)
    try:
        context.add_init_script(PROBE)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}/#training.epochs={epochs}")
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
        page.wait_for_function("!document.getElementById('play-btn').disabled", timeout=60_000)
        if view == "histograms":
            page.evaluate("document.getElementById('hist-chart').scrollIntoView({block: 'center'})")
        else:
            page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        page.evaluate(RESET)
        monitor.start()
        page.click("#play-btn")
        if view == "top":
            page.wait_for_function("window.__bench.epochs.length > 0", timeout=60_000)
            for selector in CLICKS:
                page.wait_for_timeout(STEADY_AFTER_MS // 2)
                if page.evaluate("window.__bench.done !== null"):
                    break
                page.click(selector)
        page.wait_for_function("window.__bench.done !== null", timeout=600_000, polling=200)
        cpu = monitor.stop()
        page.wait_for_timeout(300)
        data = page.evaluate("window.__bench")
        if errors:
            raise RuntimeError(f"the page threw: {errors}")
        result = measure(data, view)
        result.cpu = cpu
        return result
    finally:
        context.close()


def engine_rate(config: dict[str, Any], nice: int) -> float:
    return engine_alone(config, 1, 1, nice).total_rate


def summary_line(label: str, values: list[float], unit: str = "", digits: int = 0) -> str:
    if not values:
        return f"{label}: none"
    low, middle, high = (
        f"{value:.{digits}f}" for value in (min(values), statistics.median(values), max(values))
    )
    return f"{label}: median {middle}{unit} ({low} to {high})"


def nice_values(text: str) -> list[int]:
    """--worker-nice: comma-separated nice values in 0..19."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"worker-nice: {text!r} is not a list of integers") from None
    if not values or any(not 0 <= value <= 19 for value in values):
        raise argparse.ArgumentTypeError(f"worker-nice: {text!r} must list values from 0 to 19")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.browserbench", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (top, histograms) page runs")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--chromium", default=os.environ.get("NNPLAY_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument(
        "--worker-nice",
        type=nice_values,
        default=None,
        help="the workers' nice, or several (e.g. 5,0) compared interleaved; default NNPLAY_WORKER_NICE",
    )
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    if not os.path.exists(args.chromium):
        print(f"no Chromium at {args.chromium}: set NNPLAY_CHROMIUM or pass --chromium", file=sys.stderr)
        return 2
    nices = args.worker_nice or [Settings().worker_nice]
    config = bench_config(args.epochs, None)
    viewport = {"width": args.width, "height": args.height}
    print(
        f"browser benchmark: default circle run, {args.epochs} epochs, Chromium {args.width}x{args.height}, "
        f"{args.rounds} rounds, workers at nice {', '.join(map(str, nices))}; "
        "engine ep/s: the same run on the engine alone before and after each page run; "
        f"load average {' '.join(f'{load:.1f}' for load in os.getloadavg())}",
        flush=True,
    )
    print(
        f"{'round':>5} {'view':>10} {'nice':>4} {'page ep/s':>9} {'engine ep/s':>11} {'ratio':>6} "
        f"{'heavy/s':>7} {'fps':>5} {'worst ms':>8} {'long tasks':>10} {'steady':>6} {'longest ms':>10} "
        f"{'clicks ms':>12} {'load':>5}"
    )
    runs: list[PageRun] = []
    with tempfile.TemporaryDirectory(prefix="nnplay-browserbench-") as data_dir, sync_playwright() as pw:
        root = Path(data_dir)
        servers = {nice: LocalServer(root / str(nice), {"NNPLAY_WORKER_NICE": str(nice)}) for nice in nices}
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            for server in servers.values():
                server.start()
            before = engine_rate(config, nices[0])
            for round_ in range(1, args.rounds + 1):
                for nice, server in servers.items():
                    for view in ("top", "histograms"):
                        load = os.getloadavg()[0]
                        monitor = CpuMonitor(server.process.pid)
                        result = page_run(browser, server.url, args.epochs, view, viewport, monitor)
                        result.nice = nice
                        seen = ",".join(map(str, sorted(set(monitor.worker_nices.values())))) or "-"
                        after = engine_rate(config, nice)
                        result.engine_rate, before = (before + after) / 2, after
                        runs.append(result)
                        longest = max(result.long_tasks, default=0.0)
                        clicks = "/".join(f"{click:.0f}" for click in result.clicks) or "-"
                        print(
                            f"{round_:>5} {view:>10} {seen:>4} {result.rate:>9.1f} "
                            f"{result.engine_rate:>11.1f} {result.ratio:>6.0%} {result.heavy_rate:>7.1f} "
                            f"{result.fps:>5.1f} "
                            f"{result.worst_frame:>8.1f} {len(result.long_tasks):>10} "
                            f"{len(result.steady_long_tasks):>6} {longest:>10.1f} {clicks:>12} {load:>5.1f}",
                            flush=True,
                        )
                        print(cpu_line(result.cpu), flush=True)
        finally:
            browser.close()
            for server in servers.values():
                server.stop()
    for nice in nices:
        for view, name in (("top", "top of the page"), ("histograms", "histograms in view")):
            chosen = [run for run in runs if run.view == view and run.nice == nice]
            print(f"{name}{f', workers at nice {nice}' if len(nices) > 1 else ''}:")
            print("  " + summary_line("page/engine epochs/s", [100 * run.ratio for run in chosen], " %"))
            print("  " + summary_line("heavy frames/s", [run.heavy_rate for run in chosen], "", 1))
            print("  " + summary_line("fps", [run.fps for run in chosen], "", 1))
            worst = [run.worst_frame for run in chosen]
            print("  " + summary_line("worst frame after the first second", worst, " ms"))
            steady = [task for run in chosen for task in run.steady_long_tasks]
            longest = max(steady, default=0.0)
            print(f"  long tasks in steady training: {len(steady)}, longest {longest:.0f} ms")
            medians = {group: statistics.median(run.cpu[group] for run in chosen) for group in GROUPS}
            print("  median" + cpu_line(medians)[1:])
    clicks = [click for run in runs for click in run.clicks]
    print(summary_line("click latency (pointer down to the next frame)", clicks, " ms"))
    print(f"load average at the end {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
