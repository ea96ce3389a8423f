"""A local nnplay server in a subprocess on a free loopback port with its own data dir (tests, benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServer:
    """`nnplay serve` on 127.0.0.1 with a data dir; env: more NNPLAY_* settings; log: its output."""

    def __init__(
        self,
        data_dir: Path | str,
        env: dict[str, str] | None = None,
        log: IO | None = None,
        log_level: str = "warning",
    ):
        self.data_dir = Path(data_dir)
        self.env = env or {}
        self.log = log
        self.log_level = log_level
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> LocalServer:
        """Start the server and wait until GET /api/health answers 200."""
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        command = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", self.log_level]
        output = self.log or subprocess.DEVNULL
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=self.log)
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise RuntimeError(f"the server did not answer {self.url}/api/health within {timeout:.0f} s")
            time.sleep(0.1)
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the server exited with code {self.process.returncode}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/health", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self, kill: bool = False) -> None:
        """Terminate (or kill) the server and wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
