"""REST lab: the training experiments return their figures; an arm the engine cannot run is not loadable."""

from __future__ import annotations

import pytest

from engine import experiments_training as training

pytestmark = pytest.mark.timeout(120)


def test_experiment_figures_and_the_lab_only_arm(client):
    listed = {e["name"]: e for e in client.get("/api/lab/experiments").json()}
    averages = listed["ema_and_bias_correction"]
    assert list(averages["configs"]) == ["adam"]
    assert "1−β1ᵗ" in averages["notes_vs_torch"][0]
    assert "momentum = 0.1" in listed["batchnorm_modes"]["notes_vs_torch"][0]
    response = client.post("/api/lab/experiments/ema_and_bias_correction/run", json={"seed": 3})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["verdict"]["passed"], result["verdict"]["summary"]
    assert set(result["runs"]) == {"adam", training.UNCORRECTED}
    ema, adam = result["figures"]
    assert ema["id"] == "ema" and len(ema["traces"]) == 5 and len(ema["traces"][0]["x"]) == training.EMA_STEPS
    assert [t["name"] for t in adam["traces"]] == ["adam", training.UNCORRECTED]
    assert client.post("/api/lab/experiments/xor/run", json={"epochs": 1}).json()["figures"] == []
