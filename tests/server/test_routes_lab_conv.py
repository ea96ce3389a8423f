"""REST lab: conv arithmetic, max pooling's shift tolerance and the optimizer race's checks."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)


def test_index_offers_the_notes_conv_examples_and_the_checked_surfaces(client):
    index = client.get("/api/lab").json()
    assert index["conv_examples"]["padding"]["sizes"]["padding"] == 1
    assert {name for name, s in index["surfaces"].items() if s["check"]} == {"saddle", "two_valleys"}
    assert index["surfaces"]["two_valleys"]["minima"] == [[-1.035579, 0.0], [0.96015, 0.0]]


def test_conv_arithmetic_with_the_engine_shapes(client):
    body = {"height": 7, "width": 5, "kernel_size": 3, "padding": 1, "stride": 2, "pool_size": 2}
    result = client.post("/api/lab/conv", json=body).json()
    assert result["conv"]["rows"]["output"] == 4 and result["conv"]["cols"]["output"] == 3
    assert result["engine"] == {"conv2d": [1, 4, 3], "maxpool2d": [1, 2, 1]} and result["agrees"]
    assert len(result["conv"]["positions"]) == 12


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"height": 4, "width": 4, "kernel_size": 7, "padding": 1}, ["body", "kernel_size"], "input 6"),
        ({"height": 3, "width": 3, "kernel_size": 3, "pool_size": 2}, ["body", "pool_size"], "input 1"),
        ({"stride": 0}, ["body", "stride"], "greater than or equal to 1"),
        ({"height": 65}, ["body", "height"], "less than or equal to 64"),
        ({"padding": "1"}, ["body", "padding"], "integer"),
    ],
)
def test_bad_conv_requests_name_the_field(client, body, field, message):
    response = client.post("/api/lab/conv", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == field and message in detail["msg"]


def test_pool_shift_check(client):
    result = client.post("/api/lab/pool-shift", json={"seed": 3}).json()
    assert result["verdict"]["passed"] and [row["shift"] for row in result["shifts"]] == [0, 1, 2, 3]
    assert len(result["example"]["pool"]) == 4 and len(result["example"]["conv"]) == 8
    unpooled = client.post("/api/lab/pool-shift", json={"seed": 3, "pool_size": 1}).json()
    assert not unpooled["verdict"]["passed"]
    response = client.post("/api/lab/pool-shift", json={"seed": -1})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "seed"]


def test_race_checks_and_a_surface_without_one(client):
    saddle = client.post("/api/lab/race/check", json={"surface": "saddle"}).json()
    values = saddle["verdict"]["values"]
    assert values["sgd_steps"] == 314 and values["momentum_steps"] == 65
    valleys = client.post("/api/lab/race/check", json={"surface": "two_valleys", "seed": 2}).json()
    assert valleys["verdict"]["passed"] and len(valleys["ends"]) == 20
    response = client.post("/api/lab/race/check", json={"surface": "rosenbrock"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "surface"]
    assert "saddle and two_valleys" in response.json()["detail"][0]["msg"]


def test_race_reports_the_minimum_each_run_ends_in(client):
    body = {"surface": "two_valleys", "steps": 600, "grid": 11, "start": [2.2, 1.5]}
    runs = {run["label"]: run for run in client.post("/api/lab/race", json=body).json()["runs"]}
    assert runs["sgd"]["minimum"] == 1 and runs["momentum"]["minimum"] == 0
