"""Dataset previews and CSV uploads usable as data.csv_id."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from tests.server.conftest import CLIENT_HEADERS, make_settings, small_config, wait_status

pytestmark = pytest.mark.timeout(60)

CSV_HEADERS = {"content-type": "text/csv", "x-requested-with": "nnplay"}

CSV = "height,weight,kind\n" + "".join(
    f"{i % 7},{(i * 3) % 11},{'big' if i % 2 else 'small'}\n" for i in range(40)
)


def test_preview_of_a_2d_dataset(client):
    preview = client.get("/api/datasets/spiral", params={"n_samples": 40, "classes": 3, "noise": 10}).json()
    assert preview["input"] == "2d" and preview["task"] == "classification" and preview["num_classes"] == 3
    assert len(preview["train"]["x"]) + len(preview["test"]["x"]) == 40
    assert len(preview["train"]["x"][0]) == 2 and set(preview["train"]["y"]) <= {0, 1, 2}
    assert preview["domain"] == [-6, 6, -6, 6]
    again = client.get("/api/datasets/spiral", params={"n_samples": 40, "classes": 3, "noise": 10}).json()
    assert again == preview


def test_preview_of_digits_is_a_few_images(client):
    preview = client.get("/api/datasets/digits", params={"images": 3}).json()
    assert preview["input"] == "image" and len(preview["images"]) == 3
    assert len(preview["images"][0]) == 8 and len(preview["images"][0][0]) == 8
    assert len(preview["labels"]) == 3


def test_preview_errors(client):
    unknown = client.get("/api/datasets/cirlce")
    assert unknown.status_code == 404 and "circle" in unknown.json()["detail"]
    assert client.get("/api/datasets/circle", params={"noise": 90}).status_code == 422
    assert client.get("/api/datasets/circle", params={"n_samples": "many"}).status_code == 422


def test_upload_csv_then_train_on_it(client):
    response = client.post(
        "/api/datasets", params={"name": "kinds"}, content=CSV, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["columns"] == ["height", "weight", "kind"] and dataset["rows"] == 40
    assert dataset["task"] == "classification" and dataset["name"] == "kinds"
    assert dataset["num_classes"] == 2 and sorted(dataset["class_names"]) == ["big", "small"]
    listed = client.get("/api/datasets").json()
    assert "circle" in listed["generated"] and dataset["id"] in [d["id"] for d in listed["uploads"]]
    head = client.get(f"/api/datasets/{dataset['id']}").json()
    assert head["head"][0] == ["0", "0", "small"]
    config = small_config(epochs=3, data={"dataset": "csv", "csv_id": dataset["id"], "n_samples": None})
    run = client.post("/api/runs", json=config).json()
    done = wait_status(client, run["id"], "completed", "failed")
    assert done["status"] == "completed", done["message"]
    prediction = client.post(f"/api/runs/{run['id']}/predict", json={"inputs": [[3, 5]]}).json()
    assert len(prediction["probabilities"][0]) == 2


def test_upload_as_json(client):
    response = client.post(
        "/api/datasets", json={"name": "json one", "csv": "a,b,y\n1,2,0.5\n3,4,1.5\n5,6,2.5\n"}
    )
    assert response.status_code == 201 and response.json()["task"] == "regression"
    assert response.json()["num_classes"] is None


@pytest.mark.parametrize(
    ("body", "content_type", "status", "expected"),
    [
        ("1,2,3\n4,5,6\n", "text/csv", 422, "header"),
        ("a,b\n1,2\n3\n", "text/csv", 422, "line 3"),
        ("a,b,c\n1,x,0\n2,3,1\n", "text/csv", 422, "non-numeric"),
        ("", "text/csv", 422, "empty"),
        ('{"csv": 5}', "application/json", 422, "csv"),
        ("a,b", "image/png", 415, "text/csv"),
    ],
)
def test_bad_uploads_name_the_problem(client, body, content_type, status, expected):
    response = client.post("/api/datasets", content=body, headers={"content-type": content_type})
    assert response.status_code == status
    assert expected in str(response.json())


def test_non_utf8_upload_is_400(client):
    response = client.post("/api/datasets", content=b"a,b\n\xff,1\n", headers=CSV_HEADERS)
    assert response.status_code == 400 and "not UTF-8 text (byte 4" in response.json()["detail"]
    response = client.post(
        "/api/datasets", content=b'{"csv": "a,b\xff"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "not UTF-8 text (byte 12" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "loc", "expected"),
    [
        ("a,b,c\n1,2,0\n3,4,1\n5,6\n", ["body"], "line 4 has 2 values but the header has 3 columns"),
        ("a,b,c\n1,2,0\n3,4\r,1\n", ["body"], "line 3 has 2 values but the header has 3 columns"),
        ("a,b\n1,0\n2," + "7" * 200 * 1024 + "\n", ["body"], "line 3 cannot be read: a value is longer"),
        ({"csv": "a,b\n1,0\nx,1\n"}, ["body", "csv"], "column 'a' has a non-numeric value 'x' at line 3"),
    ],
)
def test_malformed_csv_is_422_naming_the_line(client, body, loc, expected):
    if isinstance(body, dict):
        response = client.post("/api/datasets", json=body)
    else:
        response = client.post("/api/datasets", content=body, headers=CSV_HEADERS)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc and expected in response.json()["detail"][0]["msg"]


def test_cr_only_csv_is_accepted_and_previewed(client):
    response = client.post("/api/datasets", content="a;b;label\r1;2;x\r3;4;y\r5;6;x\r", headers=CSV_HEADERS)
    assert response.status_code == 201
    assert response.json()["rows"] == 3 and response.json()["class_names"] == ["x", "y"]
    preview = client.get(f"/api/datasets/{response.json()['id']}").json()
    assert preview["head"] == [["1", "2", "x"], ["3", "4", "y"], ["5", "6", "x"]]


def test_too_many_columns_is_a_fast_422_naming_the_setting(client):
    limit = client.app.state.settings.max_csv_columns
    header = ",".join(f"c{j}" for j in range(100_000))
    body = header + "\n" + ",".join(["1"] * 100_000) + "\n"
    start = time.perf_counter()
    response = client.post("/api/datasets", content=body, headers=CSV_HEADERS)
    assert time.perf_counter() - start < 1
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert f"has 100000 columns; the limit is {limit} (NNPLAY_MAX_CSV_COLUMNS)" in message


def test_uploads_have_their_own_size_cap(client):
    big = "a,b\n" + "1,2\n" * 2_500_000
    assert len(big) > client.app.state.settings.max_upload_bytes
    response = client.post("/api/datasets", content=big, headers={"content-type": "text/csv"})
    assert response.status_code == 413 and "NNPLAY_MAX_UPLOAD_BYTES" in response.json()["detail"]


def test_run_on_an_unknown_upload_is_422(client):
    response = client.post("/api/runs", json=small_config(data={"dataset": "csv", "csv_id": "csv-nope"}))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "data", "csv_id"]


def test_delete_an_upload(client):
    dataset = client.post("/api/datasets", content=CSV, headers=CSV_HEADERS).json()
    config = small_config(epochs=2, data={"dataset": "csv", "csv_id": dataset["id"], "n_samples": None})
    paused = client.post("/api/runs", json={**config, "paused": True}).json()
    wait_status(client, paused["id"], "paused")
    in_use = client.delete(f"/api/datasets/{dataset['id']}")
    assert in_use.status_code == 409 and paused["id"] in in_use.json()["detail"]
    client.post(f"/api/runs/{paused['id']}/control", json={"action": "stop"})
    wait_status(client, paused["id"], "stopped")
    assert client.delete(f"/api/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/api/datasets/{dataset['id']}").status_code == 404
    assert dataset["id"] not in [d["id"] for d in client.get("/api/datasets").json()["uploads"]]
    assert client.get(f"/api/runs/{paused['id']}/epochs").status_code == 200
    predict = client.post(f"/api/runs/{paused['id']}/predict", json={"inputs": [[3, 5]]})
    assert predict.status_code == 409 and "no longer exists" in predict.json()["detail"]
    assert client.delete(f"/api/datasets/{dataset['id']}").status_code == 404
    assert client.delete("/api/datasets/circle").status_code == 404


def test_a_20k_column_upload_under_a_raised_limit_is_read_in_linear_time(tmp_path):
    columns = 20_000
    header = ",".join(f"c{j}" for j in range(columns))
    body = header + "\n" + "".join(",".join(["1"] * (columns - 1) + [str(k % 2)]) + "\n" for k in range(3))
    app = create_app(make_settings(tmp_path, max_csv_columns=columns))
    with TestClient(app, headers=CLIENT_HEADERS) as client:
        start = time.perf_counter()
        response = client.post("/api/datasets", content=body, headers=CSV_HEADERS)
        assert time.perf_counter() - start < 2
    assert response.status_code == 201 and len(response.json()["columns"]) == columns


def test_the_model_of_a_csv_run_carries_the_scaling_of_raw_rows(client):
    import numpy as np

    from engine.trainer import Trainer

    dataset = client.post("/api/datasets", params={"name": "kinds"}, content=CSV, headers=CSV_HEADERS).json()
    config = small_config(epochs=3, data={"dataset": "csv", "csv_id": dataset["id"], "n_samples": None})
    run = client.post("/api/runs", json=config).json()
    assert wait_status(client, run["id"], "completed", "failed")["status"] == "completed"
    model = client.get(f"/api/runs/{run['id']}/model").json()
    scaling = model["scaling"]
    assert len(scaling["x_mean"]) == len(scaling["x_std"]) == 2 and min(scaling["x_std"]) > 0
    raw = np.array([[3.0, 5.0], [6.0, 1.0]])
    trainer = Trainer(model["config"], csv_text=CSV)
    trainer.model.load_state_dict({k: np.array(v["values"]) for k, v in model["state_dict"].items()})
    standardised = (raw - np.array(scaling["x_mean"])) / np.array(scaling["x_std"])
    outputs = client.post(f"/api/runs/{run['id']}/predict", json={"inputs": raw.tolist()}).json()["outputs"]
    np.testing.assert_allclose(trainer.model.predict(standardised).reshape(len(raw), -1), outputs, rtol=1e-5)
    circle = client.post("/api/runs", json=small_config(epochs=1)).json()
    wait_status(client, circle["id"], "completed", "failed")
    assert client.get(f"/api/runs/{circle['id']}/model").json()["scaling"] is None
