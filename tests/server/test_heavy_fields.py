"""A heavy field declared in a test alone travels like every heavy field: stored, streamed, never a scalar.

The field is tests.engine.test_heavy_fields.WEIGHT_NORMS, declared by importing the module PLUGIN, which the
server and every worker process import because NNPLAY_PLUGINS names it (monkeypatch undoes the server
process's declaration after each test).
"""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine import telemetry as tm
from engine.recorder import HEAVY_FIELDS
from server.app import create_app
from server.local import LocalServer
from server.report import slim, write_report
from server.settings import Settings
from tests.engine.test_heavy_fields import WEIGHT_NORMS
from tests.server.conftest import CLIENT_HEADERS, make_settings, receive_until, small_config, wait_status
from tests.server.routes.test_stream import create

pytestmark = pytest.mark.timeout(120)

PLUGIN = "tests.server.plugin_weight_norms"


@pytest.fixture
def declared_client(tmp_path, monkeypatch):
    """An app whose server process and worker processes import PLUGIN (NNPLAY_PLUGINS)."""
    monkeypatch.setitem(HEAVY_FIELDS, "weight_norms", WEIGHT_NORMS)
    settings = make_settings(tmp_path / "data", plugins=[PLUGIN])
    with TestClient(create_app(settings), headers=CLIENT_HEADERS) as test_client:
        yield test_client


def test_plugins_are_comma_separated_and_one_that_cannot_be_imported_stops_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("NNPLAY_PLUGINS", f"{PLUGIN}, engine")
    assert Settings().plugins == [PLUGIN, "engine"]
    refusal = "NNPLAY_PLUGINS: cannot import module 'tests.server.no_such_plugin'"
    with pytest.raises(ValueError, match=refusal):
        create_app(make_settings(tmp_path / "data", plugins=["engine", "tests.server.no_such_plugin"]))


def test_nnplay_serve_refuses_to_start_naming_the_plugin_it_cannot_import(tmp_path):
    log = tmp_path / "server.log"
    with open(log, "w") as output:
        server = LocalServer(tmp_path / "data", {"NNPLAY_PLUGINS": "tests.server.no_such_plugin"}, log=output)
        with pytest.raises(RuntimeError, match="the server exited"):
            server.start(timeout=60)
    assert "NNPLAY_PLUGINS: cannot import module 'tests.server.no_such_plugin'" in log.read_text()


def assert_norms_of_its_weights(record):
    """The field's norms are those of the record's own weights field (both decoded from float32)."""
    weights = [np.linalg.norm(tm.decode(record["weights"][str(i)]["weight"])) for i in (0, 2)]
    assert record["weight_norms"]["layer"] == [0, 2]
    np.testing.assert_allclose(tm.decode(record["weight_norms"]["norm"]), weights, rtol=1e-5)


def streamed_records(message):
    """The records a stream message holds: history and batches of scalars, an epoch, the latest heavy one.

    A heavy epoch's scalars (in the history, or coalesced when a newer heavy one replaced it) say
    `heavy: true` without carrying the heavy fields; the records carrying them are those with `layers`.
    """
    lists = [message.get(key) for key in ("epochs", "records")]
    singles = [message.get(key) for key in ("record", "latest")]
    return [record for part in lists if isinstance(part, list) for record in part] + [r for r in singles if r]


def test_the_store_the_stream_and_the_report_carry_it_as_a_heavy_field(declared_client, tmp_path):
    client = declared_client
    run_id = create(client, **small_config(epochs=12, telemetry={"every": 4}))
    wait_status(client, run_id, "completed")

    stored = client.get(f"/api/runs/{run_id}/epochs", params={"full": 1}).json()
    heavy = [record for record in stored if record["heavy"]]
    assert [record["epoch"] for record in heavy] == [1, 4, 8, 12]
    for record in heavy:
        assert_norms_of_its_weights(record)
    assert all("weight_norms" not in record for record in stored if not record["heavy"])
    scalars = client.get(f"/api/runs/{run_id}/epochs").json()
    assert len(scalars) == 12 and all("weight_norms" not in record for record in scalars)

    live_id = create(client, **small_config(epochs=3000, telemetry={"every": 1000}))
    with client.websocket_connect(f"/api/runs/{live_id}/stream") as websocket:
        messages = receive_until(websocket, "done")
    records = [record for message in messages for record in streamed_records(message)]
    live = [record for record in records if "layers" in record]
    assert len(records) >= 3000 and live, [message["type"] for message in messages]
    for record in live:
        assert_norms_of_its_weights(record)
    assert all("weight_norms" not in record for record in records if "layers" not in record)
    latest = client.get(f"/api/runs/{run_id}/epochs/latest").json()
    assert_norms_of_its_weights(latest)

    report = [slim(record) for record in stored]
    assert all("weight_norms" not in record for record in report)
    write_report(tmp_path / "report.html", {"data": {"dataset": "circle"}, "optimizer": {"name": "sgd"}},
                 report, "completed", None, heavy[-1]["boundary"])
    assert "weight_norms" not in (tmp_path / "report.html").read_text(encoding="utf-8")
