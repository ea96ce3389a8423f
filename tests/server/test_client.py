"""nnplay.Client against a real server: runs streamed epoch by epoch, weights, predictions, sweeps, errors."""

from __future__ import annotations

import numpy as np
import pytest

import nnplay
from server.client import Client, ClientError
from tests.server.conftest import small_config

pytestmark = pytest.mark.timeout(180)

LR = {"path": "optimizer.lr", "values": [0.01, 0.3]}
ACTIVATION = {"path": "model.layers.0.activation", "values": ["tanh", "relu"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from server.local import LocalServer

    local = LocalServer(tmp_path_factory.mktemp("data"), {"NNPLAY_MAX_RUNS": "2"}).start()
    yield local
    local.stop()


@pytest.fixture
def api(server):
    with Client(server.url) as connected:
        yield connected


def test_a_run_streams_every_epoch_once_and_in_order(api):
    client = api
    run = client.run(small_config(epochs=12), paused=True)
    assert run["status"] in ("queued", "paused")
    stream = client.stream(run["id"], timeout=60)
    client.control(run["id"], "resume")
    records = list(stream)
    assert [record["epoch"] for record in records] == list(range(1, 13))
    assert all(np.isfinite(record["train_loss"]) for record in records)
    assert client.wait(run["id"], timeout=60)["status"] == "completed"
    again = list(client.stream(run["id"], timeout=60))
    assert [record["epoch"] for record in again] == list(range(1, 13))
    assert [r["train_loss"] for r in again] == [r["train_loss"] for r in records]


def test_model_arrays_have_the_state_dict_shapes_and_predict_answers(api):
    client = api
    run = client.run(small_config(epochs=3))
    assert client.wait(run["id"], timeout=60)["status"] == "completed"
    arrays = client.model(run["id"])
    state = client.http.get(f"/api/runs/{run['id']}/model").json()["state_dict"]
    assert set(arrays) == set(state) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    for name, array in arrays.items():
        assert isinstance(array, np.ndarray) and list(array.shape) == state[name]["shape"]
        np.testing.assert_array_equal(array, np.asarray(state[name]["values"], dtype=array.dtype))
    answer = client.predict(run["id"], np.array([[0.1, 0.2], [3.0, -3.0]]))
    assert len(answer["predictions"]) == 2 and len(answer["outputs"]) == 2


def test_a_sweep_completes_with_a_row_per_run(api):
    client = api
    spec = {"base": small_config(epochs=3), "axes": [LR, ACTIVATION], "budget": 4, "concurrency": 2}
    sweep = client.sweep(spec)
    assert sweep["total"] == 4
    seen = [table["finished"] for table in client.sweep_progress(sweep["id"], timeout=120)]
    assert seen == sorted(seen) and seen[-1] == 4
    table = client.wait_sweep(sweep["id"], timeout=120)
    assert table["status"] == "completed" and len(table["runs"]) == 4
    assert all(row["status"] == "completed" and row["epochs"] == 3 for row in table["runs"])
    assert len(client.sweep_csv(sweep["id"]).strip().splitlines()) == 5


def test_a_bad_config_or_axis_raises_naming_the_field(api):
    client = api
    with pytest.raises(ClientError) as caught:
        client.run(small_config(epochs=0))
    assert caught.value.status == 422 and "training.epochs" in caught.value.message
    assert isinstance(caught.value, ValueError)
    with pytest.raises(ValueError, match="no_such_path|nope"):
        client.sweep({"base": small_config(), "axes": [{"path": "nope.no_such_path", "values": [1]}]})
    with pytest.raises(ClientError) as missing:
        client.get_run("missing")
    assert missing.value.status == 404
    with pytest.raises(ClientError, match="no run"):
        list(client.stream("missing", timeout=10))


def test_a_token_is_sent_over_http_and_the_websocket(live_server):
    server = live_server(env={"NNPLAY_TOKEN": "s3cret"})
    with nnplay.Client(server.url) as anonymous, pytest.raises(ClientError) as refused:
        anonymous.run(small_config())
    assert refused.value.status == 401 and "token" in refused.value.message
    with nnplay.Client(server.url, token="wrong") as wrong, pytest.raises(ClientError):
        list(wrong.stream("anything", timeout=10))
    with nnplay.Client(server.url, token="s3cret") as client:
        run = client.run(small_config(epochs=4))
        assert [record["epoch"] for record in client.stream(run["id"], timeout=60)] == [1, 2, 3, 4]
        assert set(client.model(run["id"])) == {"0.weight", "0.bias", "2.weight", "2.bias"}
