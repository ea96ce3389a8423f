"""The Makefile recovers a broken .venv, says what a fresh machine needs, and honours NNPLAY_CHROMIUM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make(*args: str, path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop("NNPLAY_CHROMIUM", None)
    if path_prefix:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, env=env, timeout=60)


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_a_venv_whose_python_does_not_run_is_removed(tmp_path):
    venv = tmp_path / "venv"
    script(venv / "bin" / "python", "exit 1")
    (venv / ".installed").touch()
    result = make("venv-check", f"VENV={venv}")
    assert result.returncode == 0, result.stderr
    assert "broken" in result.stdout
    assert not venv.exists()


def test_a_working_venv_is_kept(tmp_path):
    venv = tmp_path / "venv"
    script(venv / "bin" / "python", f'exec "{sys.executable}" "$@"')
    result = make("venv-check", f"VENV={venv}")
    assert result.returncode == 0, result.stderr
    assert venv.exists() and result.stdout == ""


def test_a_failed_python3_venv_says_to_install_python3_venv_and_leaves_nothing(tmp_path):
    fake = tmp_path / "bin"
    script(fake / "python3", 'mkdir -p "$3/bin"; echo "ensurepip is not available" >&2; exit 1')
    venv = tmp_path / "venv"
    result = make(f"{venv}/.installed", f"VENV={venv}", path_prefix=fake)
    assert result.returncode != 0
    assert "install python3-venv" in result.stdout
    assert not venv.exists()


def test_chromium_comes_from_nnplay_chromium(tmp_path):
    browser = script(tmp_path / "chrome", "exit 0")
    assert make("chromium", f"NNPLAY_CHROMIUM={browser}").returncode == 0
    missing = make("chromium", f"NNPLAY_CHROMIUM={tmp_path / 'nope'}")
    assert missing.returncode != 0
    assert f"NNPLAY_CHROMIUM={tmp_path / 'nope'} is not an executable Chromium" in missing.stdout
