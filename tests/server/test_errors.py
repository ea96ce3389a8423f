"""Error mapping: 405s carry the path's Allow, unreadable bodies are 400s, deep nesting is never a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/runs", "GET, POST"),
        ("DELETE", "/api/runs", "GET, POST"),
        ("POST", "/api/health", "GET"),
        ("PATCH", "/api/runs/some-id", "DELETE, GET"),
        ("GET", "/api/runs/some-id/control", "POST"),
        ("PUT", "/api/datasets", "GET, POST"),
    ],
)
def test_405_allow_names_every_method_of_the_path(client, method, path, allow):
    response = client.request(method, path, json={})
    assert response.status_code == 405
    assert response.headers["Allow"] == allow and f"allowed: {allow}" in response.json()["detail"]


def test_unknown_api_path_is_404_whatever_the_method(client):
    for method in ("GET", "POST", "DELETE"):
        response = client.request(method, "/api/no-such-thing", json={})
        assert response.status_code == 404 and "Allow" not in response.headers


def test_non_utf8_json_body_is_400(client):
    response = client.post(
        "/api/runs", content=b'{"name": "caf\xe9"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "the request body is not UTF-8 text (byte 13 cannot be decoded)"


@pytest.mark.parametrize("path", ["/api/runs", "/api/lab/race", "/api/runs/some-id/predict"])
def test_json_body_nested_too_deeply_is_400(client, path):
    body = '{"inputs": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["detail"] == "the JSON body is nested too deeply"


def test_lab_spec_nested_3000_deep_is_422(client):
    for spec in (
        '{"name": ' + "[" * 3000 + "]" * 3000 + "}",
        '{"name": "elu", "alpha": ' + '{"a": ' * 3000 + "1" + "}" * 3001,
    ):
        response = client.get("/api/lab/activations", params={"spec": spec})
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"loc": ["query", "spec"], "msg": "spec is nested too deeply", "type": "value_error"}
        ]


@pytest.mark.parametrize(("units", "kind"), [(True, "int_type"), ("8", "int_type"), (8.0, "int_type")])
def test_a_config_integer_sent_as_another_type_is_a_422_naming_the_field(client, units, kind):
    response = client.post("/api/runs", json={"model": {"layers": [{"type": "dense", "units": units}]}})
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"][-1] == "units" and detail["type"] == kind


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/runs/some-id", "DELETE, GET"),
        ("POST", "/api/health", "GET"),
        ("PATCH", "/api/datasets", "GET, POST"),
    ],
)
def test_a_method_a_path_does_not_take_is_405_before_the_json_only_rule(client, method, path, allow):
    response = client.request(method, path, content="x", headers={"content-type": "text/plain"})
    assert response.status_code == 405 and response.headers["Allow"] == allow


def test_the_schema_documents_body_errors_and_requires_bodies(client):
    schema = client.get("/openapi.json").json()
    create = schema["paths"]["/api/runs"]["post"]
    assert {"400", "403", "408", "413", "415", "422"} <= set(create["responses"])
    assert create["requestBody"]["required"] is True
    assert "403" not in schema["paths"]["/api/runs"]["get"]["responses"]
    run = schema["paths"]["/api/lab/experiments/{name}/run"]["post"]
    assert run["requestBody"]["required"] is True


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/lab/init", {"seed": False}, "seed"),
        ("/api/lab/init", {"depth": "3"}, "depth"),
        ("/api/lab/race", {"start": [0.0, False]}, "start"),
        ("/api/lab/race", {"steps": 10.0}, "steps"),
    ],
)
def test_lab_requests_take_no_conversions_either(client, path, body, field):
    response = client.post(path, json=body)
    assert response.status_code == 422 and field in response.json()["detail"][0]["loc"]


def test_a_json_integer_too_long_to_read_is_a_400_that_says_why(client):
    body = '{"seed": 1' + "0" * 5000 + "}"
    response = client.post("/api/runs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the JSON body cannot be read: Exceeds the limit (4300")
