"""/api/runs: create, list, read, control, delete runs; their epochs, model and predictions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from engine.config import RunConfig
from server.deps import ManagerDep
from server.predict import finite_list, load_npz
from server.schemas import (
    ControlPublic,
    ControlRequest,
    ErrorPublic,
    ModelPublic,
    PredictPublic,
    PredictRequest,
    RunCreate,
    RunPublic,
    RunsPublic,
)

router = APIRouter(prefix="/api/runs", tags=["runs"])

NOT_FOUND = {404: {"model": ErrorPublic, "description": "no such run"}}
ENDED = {409: {"model": ErrorPublic, "description": "the run is not in a state for this"}}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
TOO_MANY_CONTROLS = {
    429: {
        "model": ErrorPublic,
        "description": "more controls than NNPLAY_MAX_CONTROLS_PER_SECOND; retry after Retry-After seconds",
        "headers": RETRY_AFTER,
    }
}
JSON_LIST = {
    200: {"content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}
}
NPZ = {200: {"content": {"application/json": {}, "application/octet-stream": {}}}}


@router.post(
    "",
    status_code=201,
    response_model=RunPublic,
    responses={
        429: {
            "model": ErrorPublic,
            "description": "NNPLAY_MAX_QUEUED runs already wait for a worker; retry after Retry-After",
            "headers": RETRY_AFTER,
        }
    },
)
async def create_run(body: RunCreate, manager: ManagerDep) -> Any:
    """Queue a run; it starts when a worker is free (paused: it waits for step or resume)."""
    return await manager.create(RunConfig.model_validate(body.run_config()), body.paused)


@router.get("", response_model=RunsPublic)
async def read_runs(
    manager: ManagerDep,
    offset: int = Query(0, ge=0, le=2**31),
    limit: int = Query(50, ge=1, le=500),
) -> Any:
    """Runs, newest first."""
    runs, count = await manager.read_many(offset, limit)
    return {"data": runs, "count": count}


@router.get("/{run_id}", response_model=RunPublic, responses=NOT_FOUND)
async def read_run(run_id: str, manager: ManagerDep) -> Any:
    return await manager.read(run_id)


@router.delete("/{run_id}", status_code=204, responses=NOT_FOUND)
async def delete_run(run_id: str, manager: ManagerDep) -> Response:
    """Stop the run if it is in flight, then delete it with its history and weights."""
    await manager.delete(run_id)
    return Response(status_code=204)


@router.post(
    "/{run_id}/control", response_model=ControlPublic, responses={**NOT_FOUND, **ENDED, **TOO_MANY_CONTROLS}
)
async def control_run(run_id: str, body: ControlRequest, manager: ManagerDep) -> Any:
    """pause, resume, step, stop, set (optimizer.lr, regularization.rate) or weight (layer, from_unit,
    to_unit, value: one dense weight); the run acts before its next epoch. A weight outside the network
    comes back as a `status` message on the stream naming the field.

    At most NNPLAY_MAX_CONTROLS_PER_SECOND controls a second per run (bursts of twice that); beyond, a 429
    with Retry-After. Stop is always accepted.
    """
    run = await manager.control(run_id, body.action, body.payload())
    return {"run": run, "accepted": body.action}


@router.get("/{run_id}/epochs", response_class=StreamingResponse, responses={**NOT_FOUND, **JSON_LIST})
async def read_epochs(
    run_id: str,
    manager: ManagerDep,
    full: bool = Query(False, description="every telemetry field that was recorded, not only the scalars"),
    every: int = Query(1, ge=1, le=2**31, description="the first epoch, every n-th after it, and the last"),
    heavy: int | None = Query(
        None, ge=0, le=1, description="0: scalars only (even with full=1); 1: only epochs with heavy fields"
    ),
) -> StreamingResponse:
    """One record per epoch, streamed as a JSON array: the scalars, or with full=1 every recorded field."""
    full = full and heavy != 0
    pieces = await manager.stream_epochs(run_id, full=full, every=every, heavy_only=heavy == 1)
    return StreamingResponse(pieces, media_type="application/json")


@router.get(
    "/{run_id}/epochs/latest",
    response_class=Response,
    responses={**NOT_FOUND, **ENDED, **TOO_MANY_CONTROLS, 200: {"content": {"application/json": {}}}},
)
async def read_latest_epoch(run_id: str, manager: ManagerDep) -> Response:
    """The newest epoch in full, with heavy telemetry computed on demand when that epoch went without.

    A running run's worker computes it at its next epoch boundary, a paused run's at once (each such
    request counts against NNPLAY_MAX_CONTROLS_PER_SECOND); an ended run gives its stored last record, or
    one computed on its final weights. 409 for a run that has not trained an epoch, diverged, or has no model.
    """
    return Response(await manager.latest_heavy(run_id), media_type="application/json")


@router.get("/{run_id}/model", response_model=ModelPublic, responses={**NOT_FOUND, **ENDED, **NPZ})
async def read_model(run_id: str, manager: ManagerDep, format: Literal["json", "npz"] = "json") -> Any:
    """The config and torch-compatible state_dict (the current weights while the run is in flight)."""
    run = await manager.read(run_id)
    weights = await manager.weights(run_id)
    if format == "npz":
        headers = {"Content-Disposition": f'attachment; filename="nnplay-{run_id}.npz"'}
        return Response(weights, media_type="application/octet-stream", headers=headers)
    state = load_npz(weights)
    return {
        "run_id": run_id,
        "config": run["config"],
        "scaling": await manager.scaling(run),
        "state_dict": {
            key: {"shape": list(value.shape), "dtype": str(value.dtype), "values": finite_list(value)}
            for key, value in state.items()
        },
    }


@router.post("/{run_id}/predict", response_model=PredictPublic, responses={**NOT_FOUND, **ENDED})
async def predict(run_id: str, body: PredictRequest, manager: ManagerDep) -> Any:
    """Outputs, probabilities (classification) and predictions for rows of inputs."""
    return await manager.predict(run_id, body.inputs)
