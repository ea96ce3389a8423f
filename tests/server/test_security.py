"""Browser-side attacks and slow bodies against the real server (uvicorn in a subprocess)."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from server.local import LocalServer
from tests.server.conftest import small_config, wait_status

pytestmark = pytest.mark.timeout(120)

CSV = "x1,x2,label\n" + "0,1,0\n1,0,1\n1,1,0\n0,0,1\n" * 5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {
        "NNPLAY_MAX_RUNS": "1",
        "NNPLAY_BODY_TIMEOUT_SECONDS": "2",
        "NNPLAY_CORS_ORIGINS": "http://app.example",
    }
    server = LocalServer(tmp_path_factory.mktemp("data"), env).start()
    yield server
    server.stop()


def stream(server, run_id, **kwargs):
    return ws_client.connect(f"{server.ws_url}/api/runs/{run_id}/stream", open_timeout=10, **kwargs)


def raw_handshake(server, host: str) -> bytes:
    """The status line the server answers to a websocket handshake naming `host` (one Host header)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"GET /api/runs/x/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        return sock.recv(4096).partition(b"\r\n")[0]


def test_a_foreign_host_header_gets_nothing(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for path in ("/api/runs", "/api/health", "/"):
            refused = client.get(path, headers={"Host": "attacker.example"})
            assert refused.status_code == 400 and refused.text == "Invalid host header"
        assert client.get("/api/runs", headers={"Host": f"attacker.example:{server.port}"}).status_code == 400
        assert client.get("/api/runs", headers={"Host": f"localhost:{server.port}"}).status_code == 200
        assert client.get("/api/runs").status_code == 200
    assert raw_handshake(server, "attacker.example") == b"HTTP/1.1 400 Bad Request"
    assert raw_handshake(server, f"127.0.0.1:{server.port}") == b"HTTP/1.1 101 Switching Protocols"


def test_websocket_origin_must_be_the_server_or_a_cors_origin(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        run_id = client.post("/api/runs", json=small_config(epochs=2)).json()["id"]
        wait_status(client, run_id, "completed")
    with pytest.raises(InvalidStatus) as refused, stream(server, run_id, origin="http://attacker.example"):
        pass
    assert refused.value.response.status_code == 403
    assert "http://attacker.example" in json.loads(refused.value.response.body)["detail"]
    for origin in (f"http://localhost:{server.port}", f"http://127.0.0.1:{server.port + 1}"):
        with pytest.raises(InvalidStatus), stream(server, run_id, origin=origin):
            pass
    for origin in (server.url, "http://app.example", None):
        with stream(server, run_id, origin=origin) as websocket:
            assert json.loads(websocket.recv(timeout=10))["type"] == "history"


def test_cross_site_form_and_simple_requests_change_nothing(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        text_plain = {"Content-Type": "text/plain"}
        upload = client.post("/api/datasets", content=CSV, headers=text_plain)
        assert upload.status_code == 403 and "X-Requested-With" in upload.json()["detail"]
        form = client.post("/api/datasets", data={"csv": CSV})
        assert form.status_code == 415
        assert client.get("/api/datasets").json()["uploads"] == []
        runs = client.get("/api/runs").json()["count"]
        for path in ("/api/lab/experiments/xor/run", "/api/runs"):
            assert (
                client.post(path, content=json.dumps(small_config()), headers=text_plain).status_code == 415
            )
            assert client.post(path).status_code == 415
        assert client.get("/api/runs").json()["count"] == runs
        as_csv = client.post(
            "/api/datasets", content=CSV, headers={"Content-Type": "text/csv", "X-Requested-With": "nnplay"}
        )
        assert as_csv.status_code == 201
        as_json = client.post("/api/datasets", json={"name": "points", "csv": CSV})
        assert as_json.status_code == 201
        assert len(client.get("/api/datasets").json()["uploads"]) == 2


def test_a_body_that_never_comes_is_408_while_the_server_keeps_answering(server):
    def send_headers_only() -> tuple[bytes, float]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n"
            )
            started = time.monotonic()
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
            return received, time.monotonic() - started

    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=server.url, timeout=5) as client:
        slow = pool.submit(send_headers_only)
        time.sleep(0.3)
        started = time.monotonic()
        assert client.get("/api/health").status_code == 200
        assert time.monotonic() - started < 1.0
        answer, took = slow.result()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    assert b"NNPLAY_BODY_TIMEOUT_SECONDS" in rest and 1.9 < took < 4.0


def test_the_token_travels_in_headers_and_never_reaches_the_access_log(tmp_path):
    token = "s3cret-Token_1"
    with open(tmp_path / "server.log", "wb") as log:
        server = LocalServer(tmp_path / "data", {"NNPLAY_TOKEN": token}, log=log, log_level="info").start()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                auth = {"Authorization": f"Bearer {token}"}
                run = client.post("/api/runs", json=small_config(epochs=2), headers=auth)
                assert "HttpOnly" in run.headers["set-cookie"]
                run_id = run.json()["id"]
                wait_status(client, run_id, "completed")
                assert client.get(f"/api/runs/{run_id}/model", params={"format": "npz"}).status_code == 200
            with pytest.raises(InvalidStatus), stream(server, run_id):
                pass
            with stream(server, run_id, subprotocols=["nnplay", f"token.{token}"]) as websocket:
                assert websocket.subprotocol == "nnplay"
                assert json.loads(websocket.recv(timeout=10))["type"] == "history"
        finally:
            server.stop()
    written = (tmp_path / "server.log").read_text()
    assert f'"GET /api/runs/{run_id}/model?format=npz HTTP/1.1" 200' in written
    assert f"WebSocket /api/runs/{run_id}/stream" in written and token not in written
