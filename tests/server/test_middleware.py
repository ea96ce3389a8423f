"""Middleware: the Host check, cross-site refusals, the body cap and deadline, and the API token."""

from __future__ import annotations

import time

import anyio
import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from server.middleware import BodyLimitMiddleware, CrossSiteMiddleware, TokenMiddleware
from server.settings import Settings

CSV_UPLOAD = {"content-type": "text/csv", "x-requested-with": "nnplay"}


def make_app(token=None, cors_origins=(), allowed_hosts=("testserver",), timeout=30.0):
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request):
        return {"size": len(await request.body())}

    @app.post("/api/datasets")
    async def upload(request: Request):
        return {"size": len(await request.body())}

    @app.api_route("/api/things", methods=["POST", "PUT", "PATCH", "DELETE"])
    async def things(request: Request):
        return {"size": len(await request.body())}

    @app.get("/api/health")
    async def health():
        return {"status": "ok"}

    @app.get("/app.js")
    async def static_file():
        return {"file": "app.js"}

    @app.websocket("/api/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept(subprotocol="nnplay" if "nnplay" in websocket.scope["subprotocols"] else None)
        await websocket.send_text("hi")
        await websocket.close()

    app.add_middleware(BodyLimitMiddleware, limit=1000, upload_limit=5000, timeout=timeout)
    app.add_middleware(CrossSiteMiddleware, cors_origins=list(cors_origins))
    app.add_middleware(TokenMiddleware, token=token)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts), www_redirect=False)
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
    assert client.post("/api/datasets", content=b"x" * 4000, headers=CSV_UPLOAD).json() == {"size": 4000}
    assert client.post("/api/datasets", content=b"x" * 6000, headers=CSV_UPLOAD).status_code == 413


def test_bad_content_length_is_400():
    response = make_app().post("/echo", content=b"abc", headers={"content-length": "lots"})
    assert response.status_code == 400


async def _call(middleware, body_parts, pause):
    """Drive the middleware by hand: the body arrives in parts, `pause` seconds before each; the answer."""
    sent = []

    async def app(scope, receive, send):
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})

    parts = iter(body_parts)

    async def receive():
        await anyio.sleep(pause)
        part = next(parts, None)
        if part is None:
            await anyio.sleep_forever()
        return {"type": "http.request", "body": part, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/echo", "headers": [(b"content-length", b"100")]}
    started = time.monotonic()
    await middleware(app)(scope, receive, send)
    return sent, time.monotonic() - started


def test_a_body_that_never_arrives_is_408_after_the_timeout():
    timed = lambda app: BodyLimitMiddleware(app, limit=1000, upload_limit=1000, timeout=0.3)  # noqa: E731
    sent, took = anyio.run(_call, timed, [], 0.0)
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert b"NNPLAY_BODY_TIMEOUT_SECONDS" in sent[1]["body"] and 0.3 <= took < 1.0
    sent, _ = anyio.run(_call, timed, [b"x"] * 20, 0.05)
    assert sent[0]["status"] == 408, "a body dribbled byte by byte must not outlast the deadline"


def test_no_token_configured_means_open():
    assert make_app().post("/echo").status_code == 200


def test_token_required_on_the_api_but_not_health_or_the_app_files():
    client = make_app(token="s3cret")
    assert client.get("/api/health").status_code == 200
    assert client.get("/app.js").status_code == 200
    denied = client.post("/api/things", json={})
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert client.get("/openapi.json").status_code == 401
    assert client.post("/api/things", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/api/things", json={}, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_the_token_is_never_taken_from_the_url():
    client = make_app(token="s3cret")
    assert client.post("/api/things?token=s3cret", json={}).status_code == 401
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/api/ws?token=s3cret"):
        pass
    assert refused.value.code == 4401


def test_a_header_sets_the_cookie_that_download_links_carry():
    client = make_app(token="s3cret")
    response = client.post("/api/things", json={}, headers={"Authorization": "Bearer s3cret"})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.post("/api/things", json={}).status_code == 200
    assert "set-cookie" not in client.post("/api/things", json={}).headers
    assert client.post("/api/things", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    client.cookies.clear()
    assert client.post("/api/things", json={}).status_code == 401


def test_websocket_takes_the_token_as_a_subprotocol():
    client = make_app(token="s3cret")
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/api/ws"):
        pass
    assert refused.value.code == 4401
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/api/ws", ["nnplay", "token.nope"]):
        pass
    with client.websocket_connect("/api/ws", ["nnplay", "token.s3cret"]) as websocket:
        assert websocket.accepted_subprotocol == "nnplay"
        assert websocket.receive_text() == "hi"
    with client.websocket_connect("/api/ws", headers={"Authorization": "Bearer s3cret"}) as websocket:
        assert websocket.receive_text() == "hi"


def test_host_header_must_name_an_allowed_host():
    client = make_app(allowed_hosts=Settings(host="0.0.0.0").allowed_hosts)
    for host in ("127.0.0.1:8000", "localhost", "LOCALHOST:9", "[::1]:8000"):
        assert client.get("/api/health", headers={"host": host}).status_code == 200, host
    for host in ("attacker.example", "attacker.example:8000", "127.0.0.1.attacker.example", "[::2]"):
        refused = client.get("/api/health", headers={"host": host})
        assert refused.status_code == 400 and refused.text == "Invalid host header", host
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect("/api/ws", headers={"host": "attacker.example:8000"}):
            pass
    assert denied.value.status_code == 400


def test_allowed_hosts_default_to_loopback_plus_the_listening_name(monkeypatch):
    assert Settings().allowed_hosts == ["127.0.0.1", "localhost", "[::1]"]
    assert Settings(host="0.0.0.0").allowed_hosts == ["127.0.0.1", "localhost", "[::1]"]
    assert Settings(host="::").allowed_hosts == ["127.0.0.1", "localhost", "[::1]"]
    assert Settings(host="MyBox.lan").allowed_hosts[-1] == "mybox.lan"
    assert Settings(host="fe80::1").allowed_hosts[-1] == "[fe80::1]"
    monkeypatch.setenv("NNPLAY_ALLOWED_HOSTS", "nnplay.example, *.lab.example")
    assert Settings().allowed_hosts == ["nnplay.example", "*.lab.example"]
    monkeypatch.setenv("NNPLAY_ALLOWED_HOSTS", "lab.*")
    with pytest.raises(ValidationError, match="allowed_hosts"):
        Settings()


def test_token_characters_fit_a_subprotocol():
    with pytest.raises(ValidationError, match="token"):
        Settings(token="has space")
    assert Settings(token="Abc-_.~9").token == "Abc-_.~9"


def test_websocket_origin_must_be_this_server_or_a_cors_origin():
    client = make_app(cors_origins=["http://app.example"])
    for origin in (
        "http://attacker.example",
        "http://testserver.attacker.example",
        "null",
        "http://testserver:1",
    ):
        with pytest.raises(WebSocketDenialResponse) as denied:
            with client.websocket_connect("/api/ws", headers={"origin": origin}):
                pass
        assert denied.value.status_code == 403
        assert (
            "NNPLAY_CORS_ORIGINS" in denied.value.json()["detail"] and origin in denied.value.json()["detail"]
        )
    for origin in (None, "http://testserver", "https://TESTSERVER", "http://app.example"):
        headers = {"origin": origin} if origin else {}
        with client.websocket_connect("/api/ws", headers=headers) as websocket:
            assert websocket.receive_text() == "hi", origin


def test_an_origin_without_a_host_is_not_this_server():
    sent = []

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        raise AssertionError("the handshake reached the app")

    scope = {"type": "websocket", "path": "/api/ws", "headers": [(b"origin", b"null")]}
    anyio.run(CrossSiteMiddleware(app), scope, None, send)
    assert sent[0] == {"type": "websocket.http.response.start", "status": 403, "headers": sent[0]["headers"]}


def test_state_changing_api_requests_must_be_json():
    client = make_app()
    for method in ("POST", "PUT", "PATCH"):
        assert client.request(method, "/api/things", json={"a": 1}).status_code == 200
        for body, content_type in (
            (b"{}", "text/plain"),
            (b"a=1", "application/x-www-form-urlencoded"),
            (b"", None),
        ):
            headers = {"content-type": content_type} if content_type else {}
            refused = client.request(method, "/api/things", content=body, headers=headers)
            assert refused.status_code == 415, (method, content_type)
            assert (
                refused.json()["detail"]
                == f"send {method} /api/things as JSON (Content-Type {content_type or 'missing'})"
            )
    assert client.delete("/api/things").status_code == 200
    assert (
        client.request(
            "DELETE", "/api/things", content=b"x", headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )
    assert client.post("/echo", content=b"x", headers={"content-type": "text/plain"}).status_code == 200


def test_a_csv_upload_needs_its_type_and_the_custom_header():
    client = make_app()
    assert client.post("/api/datasets", json={"name": "a", "csv": "a,b\n"}).status_code == 200
    for content_type in ("text/csv", "text/plain; charset=utf-8", "application/csv"):
        assert (
            client.post(
                "/api/datasets", content=b"a,b\n", headers={**CSV_UPLOAD, "content-type": content_type}
            ).status_code
            == 200
        )
        refused = client.post("/api/datasets", content=b"a,b\n", headers={"content-type": content_type})
        assert refused.status_code == 403 and "X-Requested-With" in refused.json()["detail"]
    form = client.post(
        "/api/datasets", files={"file": ("a.csv", b"a,b\n")}, headers={"x-requested-with": "x"}
    )
    assert form.status_code == 415 and "text/csv" in form.json()["detail"]


def test_cors_is_off_by_default_and_set_from_a_comma_separated_list(tmp_path, monkeypatch):
    from server.app import create_app

    plain = TestClient(create_app(Settings(data_dir=tmp_path, allowed_hosts=["testserver"])))
    assert (
        "access-control-allow-origin"
        not in plain.get("/vendor/plotly.min.js", headers={"Origin": "http://x"}).headers
    )
    monkeypatch.setenv("NNPLAY_CORS_ORIGINS", "http://a.example, http://b.example")
    settings = Settings(data_dir=tmp_path, allowed_hosts=["testserver"])
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    client = TestClient(create_app(settings))
    response = client.get("/vendor/plotly.min.js", headers={"Origin": "http://b.example"})
    assert response.headers["access-control-allow-origin"] == "http://b.example"
    preflight = client.options(
        "/api/datasets",
        headers={
            "Origin": "http://b.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-requested-with",
        },
    )
    assert (
        preflight.status_code == 200
        and "x-requested-with" in preflight.headers["access-control-allow-headers"]
    )
