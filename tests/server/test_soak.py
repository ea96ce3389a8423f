"""python -m server.soak mixes normal and hostile traffic against a real server and prints its figures."""

from __future__ import annotations

import re

import pytest

from server import soak


@pytest.mark.timeout(300)
def test_soak_prints_every_figure_and_finds_no_server_error(capsys):
    code = soak.main(["--seconds", "20", "--rounds", "2", "--flood", "300"])
    out = capsys.readouterr().out
    assert code == 0, out
    statuses = dict(re.findall(r"(\w[\w ]*): (\d+)", out.splitlines()[0].split(":", 1)[1]))
    assert int(statuses["201"]) >= 2 and int(statuses["200"]) > 10
    assert int(statuses["422"]) >= len(soak.OVERSIZED) - 2
    assert re.search(r"^slowest /api/health: \d+ ms$", out, re.M)
    assert re.search(r"^peak RSS: server \d+ MB, largest worker \d+ MB$", out, re.M)
    assert re.search(r"^database: [\d.]+ MB$", out, re.M)
    assert re.search(r"^5xx answers: 0$", out, re.M)
