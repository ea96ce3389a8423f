"""/api/sweeps: start a sweep of runs over config axes, read its table (JSON or CSV), stop and forget it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Response, WebSocket
from starlette.requests import HTTPConnection

from server.envelopes import envelope
from server.errors import ApiError
from server.schemas import ErrorPublic
from server.sweeps import SweepCreate, SweepManager

router = APIRouter(prefix="/api/sweeps", tags=["sweeps"])

PROGRESS_SECONDS = 0.5
SUBPROTOCOL = "nnplay"
NOT_FOUND = {404: {"model": ErrorPublic, "description": "no such sweep"}}
CSV = {200: {"content": {"text/csv": {}}}}


def sweeps(connection: HTTPConnection) -> SweepManager:
    return connection.app.state.sweeps


@router.post("", status_code=201, responses={422: {"model": ErrorPublic, "description": "a bad axis"}})
async def create_sweep(body: SweepCreate, connection: HTTPConnection) -> dict[str, Any]:
    """Validate every run (a bad axis is a 422 naming it), then start them `concurrency` at a time."""
    return await sweeps(connection).create(body)


@router.get("")
async def read_sweeps(connection: HTTPConnection) -> list[dict[str, Any]]:
    """Every sweep, newest first, without its rows: id, created_at, status, settings, counts by status."""
    return sweeps(connection).list()


@router.get("/{sweep_id}", responses=NOT_FOUND)
async def read_sweep(sweep_id: str, connection: HTTPConnection) -> dict[str, Any]:
    """The table: each run's parameters, status, best test metric and final metrics."""
    return await sweeps(connection).table(sweep_id)


@router.get("/{sweep_id}/csv", response_class=Response, responses={**NOT_FOUND, **CSV})
async def read_sweep_csv(sweep_id: str, connection: HTTPConnection) -> Response:
    """The table as CSV: index, run_id, status, one column per axis, then the metrics."""
    text = await sweeps(connection).csv(sweep_id)
    headers = {"Content-Disposition": f'attachment; filename="sweep-{sweep_id}.csv"'}
    return Response(text, media_type="text/csv", headers=headers)


@router.delete("/{sweep_id}", status_code=204, responses=NOT_FOUND)
async def delete_sweep(sweep_id: str, connection: HTTPConnection) -> Response:
    """Stop every run of the sweep in flight and forget the sweep; its runs stay in /api/runs."""
    await sweeps(connection).delete(sweep_id)
    return Response(status_code=204)


@router.websocket("/{sweep_id}/stream")
async def stream_sweep(websocket: WebSocket, sweep_id: str) -> None:
    """`sweep` envelopes with the table whenever a run's status or epoch count changes, then `done`."""
    manager = sweeps(websocket)
    offered = websocket.scope.get("subprotocols", ())
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    last = None
    try:
        while True:
            try:
                table = await manager.table(sweep_id)
            except ApiError as error:
                kind = "error" if last is None else "done"
                await websocket.send_text(envelope(kind, status="deleted", detail=str(error)))
                await websocket.close(4404 if last is None else 1000)
                return
            progress = [table["status"], [(row["status"], row.get("epochs")) for row in table["runs"]]]
            if progress != last:
                await websocket.send_text(f'{{"type":"sweep","sweep":{json.dumps(table)}}}')
                last = progress
            if table["status"] != "running":
                done = envelope("done", status=table["status"], finished=table["finished"])
                await websocket.send_text(done)
                await websocket.close()
                return
            await asyncio.sleep(PROGRESS_SECONDS)
    except Exception:
        return
