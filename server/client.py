"""A Python client of an nnplay server: start runs and sweeps, stream epochs, fetch weights and predictions.

    client = Client("http://127.0.0.1:8000", token=None)
    run = client.run({"training": {"epochs": 50}})
    for record in client.stream(run["id"]):
        print(record["epoch"], record["test_loss"])
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import websockets.sync.client as ws_client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

SUBPROTOCOL = "nnplay"
TOKEN_SUBPROTOCOL = "token."
FINISHED = ("completed", "stopped", "failed", "diverged", "interrupted")


class ClientError(ValueError):
    """An answer the server refused: `status` (HTTP status or websocket close code) and its message."""

    def __init__(self, status: int, message: str, detail: Any = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.detail = detail


def _message(response: httpx.Response) -> tuple[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase, None
    if not isinstance(body, dict):
        return str(body), body
    detail = body.get("detail")
    if body.get("message"):
        return body["message"], detail
    if isinstance(detail, list):
        text = "; ".join(f"{'.'.join(map(str, d.get('loc', ())))}: {d.get('msg')}" for d in detail)
        return text, detail
    return str(detail), detail


class Client:
    """The REST API and the run websocket of the server at `url`; `token` is NNPLAY_TOKEN if it is set."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        response = self.http.request(method, path, json=body, params=params or None)
        if response.status_code >= 400:
            message, detail = _message(response)
            raise ClientError(response.status_code, message, detail)
        return response

    def run(self, config: dict[str, Any], paused: bool = False) -> dict[str, Any]:
        """Start a run of `config` (a RunConfig as a dict); the run as the server describes it."""
        return self._request("POST", "/api/runs", {**config, "paused": paused}).json()

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self._request("GET", f"/api/runs/{run_id}").json()

    def control(self, run_id: str, action: str, **fields: Any) -> dict[str, Any]:
        """POST a control; `set` takes RunConfig's names: optimizer={"lr": 0.1}, regularization={"rate": 0}"""
        return self._request("POST", f"/api/runs/{run_id}/control", {"action": action, **fields}).json()

    def _connect(self, path: str) -> ws_client.ClientConnection:
        protocols = [Subprotocol(SUBPROTOCOL)]
        if self.token:
            protocols.append(Subprotocol(TOKEN_SUBPROTOCOL + self.token))
        ws_url = "ws" + self.url[len("http") :] + path
        try:
            return ws_client.connect(ws_url, subprotocols=protocols, max_size=None, open_timeout=30)
        except InvalidStatus as error:
            raise ClientError(error.response.status_code, f"websocket {path} refused") from None

    def messages(self, run_id: str, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Every envelope of the run's websocket (history, epoch, epochs, status, ...) up to `done`."""
        with self._connect(f"/api/runs/{run_id}/stream") as websocket:
            while True:
                try:
                    message = json.loads(websocket.recv(timeout=timeout))
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd else 1006
                    raise ClientError(code, f"the stream of run {run_id} closed before it was done") from None
                except TimeoutError:
                    raise TimeoutError(f"no message from run {run_id} within {timeout} s") from None
                if message["type"] == "error":
                    raise ClientError(404 if "no run" in message["detail"] else 400, message["detail"])
                yield message
                if message["type"] == "done":
                    return

    def stream(self, run_id: str, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Each epoch's record once, in order: the history so far, then live epochs until the run ends."""
        last = 0
        for message in self.messages(run_id, timeout):
            kind = message["type"]
            if kind == "history":
                records = message["epochs"]
                latest = message.get("latest")
                if latest and records and latest["epoch"] == records[-1]["epoch"]:
                    records = [*records[:-1], latest]
            elif kind == "epoch":
                records = [message["record"]]
            elif kind == "epochs":
                records = message["records"]
            elif kind == "status" and message.get("rewind") is not None:
                last = min(last, message["rewind"])
                continue
            else:
                continue
            for record in records:
                if record["epoch"] > last:
                    last = record["epoch"]
                    yield record

    def wait(self, run_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the run ends; the run as the server then describes it."""
        for _ in self.messages(run_id, timeout):
            pass
        return self.get_run(run_id)

    def epochs(self, run_id: str) -> list[dict[str, Any]]:
        """Every stored epoch's scalars."""
        return self._request("GET", f"/api/runs/{run_id}/epochs").json()

    def model(self, run_id: str) -> dict[str, np.ndarray]:
        """The run's weights by state_dict name, as NumPy arrays."""
        content = self._request("GET", f"/api/runs/{run_id}/model", format="npz").content
        with np.load(io.BytesIO(content), allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}

    def predict(self, run_id: str, rows: Any) -> dict[str, Any]:
        """The trained model's outputs, probabilities and predictions for `rows` of inputs."""
        inputs = np.asarray(rows, dtype=float).tolist()
        return self._request("POST", f"/api/runs/{run_id}/predict", {"inputs": inputs}).json()

    def delete(self, run_id: str) -> None:
        self._request("DELETE", f"/api/runs/{run_id}")

    def sweep(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Start a sweep (base config, axes, mode, budget, concurrency); its table, rows still queued."""
        return self._request("POST", "/api/sweeps", spec).json()

    def sweep_table(self, sweep_id: str) -> dict[str, Any]:
        """The sweep's table: status, counts and one row per run."""
        return self._request("GET", f"/api/sweeps/{sweep_id}").json()

    def sweep_csv(self, sweep_id: str) -> str:
        return self._request("GET", f"/api/sweeps/{sweep_id}/csv").text

    def sweep_progress(self, sweep_id: str, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """The sweep's table each time a run's status or epoch count changes, until the sweep ends."""
        with self._connect(f"/api/sweeps/{sweep_id}/stream") as websocket:
            while True:
                try:
                    message = json.loads(websocket.recv(timeout=timeout))
                except ConnectionClosed:
                    raise ClientError(1006, f"the stream of sweep {sweep_id} closed early") from None
                except TimeoutError:
                    raise TimeoutError(f"no news from sweep {sweep_id} within {timeout} s") from None
                if message["type"] == "error":
                    raise ClientError(404, message["detail"])
                if message["type"] == "sweep":
                    yield message["sweep"]
                elif message["type"] == "done":
                    return

    def wait_sweep(self, sweep_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until every run of the sweep has ended; its final table."""
        for _ in self.sweep_progress(sweep_id, timeout):
            pass
        return self.sweep_table(sweep_id)

    def delete_sweep(self, sweep_id: str) -> None:
        self._request("DELETE", f"/api/sweeps/{sweep_id}")
