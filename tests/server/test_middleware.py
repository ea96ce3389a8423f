"""Body size cap counted on the wire, and the API token (header, query, cookie, websocket)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.middleware import BodyLimitMiddleware, TokenMiddleware


def make_app(token=None):
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request):
        return {"size": len(await request.body())}

    @app.post("/api/datasets")
    async def upload(request: Request):
        return {"size": len(await request.body())}

    @app.get("/api/health")
    async def health():
        return {"status": "ok"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    app.add_middleware(BodyLimitMiddleware, limit=1000, upload_limit=5000)
    app.add_middleware(TokenMiddleware, token=token)
    return TestClient(app)


def test_bodies_under_the_limit_pass():
    assert make_app().post("/echo", content=b"x" * 1000).json() == {"size": 1000}


def test_declared_length_over_the_limit_is_413():
    response = make_app().post("/echo", content=b"x" * 1001)
    assert response.status_code == 413 and "NNPLAY_MAX_REQUEST_BYTES" in response.json()["detail"]


def test_streamed_body_is_counted_without_content_length():
    def chunks():
        for _ in range(5):
            yield b"x" * 300

    response = make_app().post("/echo", content=chunks())
    assert response.status_code == 413


def test_uploads_have_the_upload_limit():
    client = make_app()
    assert client.post("/api/datasets", content=b"x" * 4000).json() == {"size": 4000}
    assert client.post("/api/datasets", content=b"x" * 6000).status_code == 413


def test_bad_content_length_is_400():
    response = make_app().post("/echo", content=b"abc", headers={"content-length": "lots"})
    assert response.status_code == 400


def test_no_token_configured_means_open():
    assert make_app().post("/echo").status_code == 200


def test_token_required_everywhere_but_health():
    client = make_app(token="s3cret")
    assert client.get("/api/health").status_code == 200
    denied = client.post("/echo")
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert client.post("/echo", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/echo", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_query_token_sets_a_cookie_for_the_browser():
    client = make_app(token="s3cret")
    response = client.post("/echo?token=s3cret")
    assert response.status_code == 200
    assert "HttpOnly" in response.headers["set-cookie"]
    assert client.post("/echo").status_code == 200
    client.cookies.clear()
    assert client.post("/echo").status_code == 401


def test_websocket_needs_the_token():
    client = make_app(token="s3cret")
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws"):
        pass
    assert refused.value.code == 4401
    with client.websocket_connect("/ws?token=s3cret") as websocket:
        assert websocket.receive_text() == "hi"
    with client.websocket_connect("/ws", headers={"Authorization": "Bearer s3cret"}) as websocket:
        assert websocket.receive_text() == "hi"


def test_cors_is_off_by_default_and_set_from_a_comma_separated_list(tmp_path, monkeypatch):
    from server.app import create_app
    from server.settings import Settings

    plain = TestClient(create_app(Settings(data_dir=tmp_path)))
    assert (
        "access-control-allow-origin"
        not in plain.get("/vendor/plotly.min.js", headers={"Origin": "http://x"}).headers
    )
    monkeypatch.setenv("NNPLAY_CORS_ORIGINS", "http://a.example, http://b.example")
    settings = Settings(data_dir=tmp_path)
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    response = TestClient(create_app(settings)).get(
        "/vendor/plotly.min.js", headers={"Origin": "http://b.example"}
    )
    assert response.headers["access-control-allow-origin"] == "http://b.example"
