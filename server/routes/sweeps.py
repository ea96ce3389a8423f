"""/api/sweeps: start a sweep of runs over config axes, read its table (JSON or CSV), stop and forget it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from starlette.requests import HTTPConnection

from server.schemas import ErrorPublic
from server.sweeps import SweepCreate, SweepManager

router = APIRouter(prefix="/api/sweeps", tags=["sweeps"])

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
    """Every sweep this server holds, newest first, without their rows."""
    manager = sweeps(connection)
    tables = [await manager.table(sweep_id) for sweep_id in list(manager.sweeps)]
    return [{key: value for key, value in table.items() if key != "runs"} for table in reversed(tables)]


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
