"""POST /api/preview: epoch 0 of the run a config would start, the same numbers as that run's start."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Trainer
from engine.telemetry import decode
from tests.server.conftest import small_config, wait_for, wait_status

pytestmark = pytest.mark.timeout(90)


def test_the_preview_is_the_untrained_network_of_the_run_with_that_seed(client):
    config = small_config(seed=7)
    response = client.post("/api/preview", json=config)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["epoch"] == 0 and preview["heavy"]
    assert preview["boundary"]["kind"] == "probability"
    assert {(n["layer"], n["unit"]) for n in preview["neurons"]} >= {(0, 0), (0, 2), (2, 0)}

    expected = Trainer(config).initial_record().model_dump(mode="json")
    assert {key: value for key, value in preview.items() if key != "t_end"} == {
        key: value for key, value in expected.items() if key != "t_end"
    }

    run_id = client.post("/api/runs", json={**config, "paused": True}).json()["id"]
    wait_status(client, run_id, "paused")
    state = client.get(f"/api/runs/{run_id}/model").json()["state_dict"]
    for index, params in preview["weights"].items():
        run_weight = np.float32(state[f"{index}.weight"]["values"])
        np.testing.assert_array_equal(decode(params["weight"]), run_weight)
    client.post(f"/api/runs/{run_id}/control", json={"action": "step"})
    first = wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["last"])
    assert first["epoch"] == 1 and first["train_loss"] != preview["train_loss"]


def test_another_seed_gives_other_pictures(client):
    first = client.post("/api/preview", json=small_config(seed=1)).json()
    second = client.post("/api/preview", json=small_config(seed=2)).json()
    assert first["boundary"]["z"] != second["boundary"]["z"]


def test_previews_obey_the_run_limits_and_name_the_field(client):
    wide = small_config(model={"layers": [{"type": "dense", "units": 2000}]})
    response = client.post("/api/preview", json=wide)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "model", "layers"]
    huge = small_config(model={"layers": [{"type": "dense", "units": 1024}] * 2})
    response = client.post("/api/preview", json=huge)
    assert response.status_code == 422 and "NNPLAY_MAX_PARAMETERS" in response.json()["message"]
    response = client.post("/api/preview", json=small_config(data={"dataset": "csv", "csv_id": "csv-nope"}))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "data", "csv_id"]
