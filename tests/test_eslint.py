"""make test lints web/ with ESLint (from npm, pinned by package-lock.json) before pytest runs."""

from __future__ import annotations

import subprocess

import pytest

from tests.test_makefile import ROOT, make


@pytest.fixture(scope="module")
def eslint():
    installed = make("node_modules/.installed")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    def run(*args: str, source: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["npx", "--no-install", "eslint", *args], input=source, capture_output=True,
                              text=True, cwd=ROOT, timeout=300)

    return run


def lint_source(eslint, source: str) -> subprocess.CompletedProcess:
    return eslint("--stdin", "--stdin-filename", "web/probe.js", source=source)


def test_make_test_lints_web_before_pytest():
    plan = make("-n", "test", "NNPLAY_CHROMIUM=/bin/true").stdout.splitlines()
    eslint_at = next(i for i, line in enumerate(plan) if "eslint web/" in line)
    pytest_at = next(i for i, line in enumerate(plan) if "-m pytest" in line)
    assert eslint_at < pytest_at


def test_web_passes_eslint(eslint):
    result = eslint("web/")
    assert result.returncode == 0, result.stdout + result.stderr


def test_eslint_reads_web_as_browser_modules_with_plotly(eslint):
    result = lint_source(eslint, 'import { api } from "./api.js";\n'
                                 "export const draw = () => Plotly.react(document.body, [], api);\n")
    assert result.returncode == 0, result.stdout + result.stderr


def test_eslint_flags_undefined_names_and_unused_variables(eslint):
    result = lint_source(eslint, "export function draw() {\n  const unused = 1;\n  return missingName;\n}\n")
    assert result.returncode == 1
    assert "'unused' is assigned a value but never used" in result.stdout
    assert "'missingName' is not defined" in result.stdout
