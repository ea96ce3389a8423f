"""/api/runs/{id}/continue: train an ended run for more epochs from its last checkpoint, same run id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from server.deps import ManagerDep
from server.schemas import ErrorPublic, RunPublic

router = APIRouter(prefix="/api/runs", tags=["runs"])


class RunContinue(BaseModel):
    """How many more epochs to train."""

    model_config = ConfigDict(extra="forbid", strict=True)

    epochs: int = Field(ge=1, le=1_000_000)


@router.post(
    "/{run_id}/continue",
    response_model=RunPublic,
    responses={
        404: {"model": ErrorPublic, "description": "no such run"},
        409: {"model": ErrorPublic, "description": "not an ended run with a checkpoint"},
    },
)
async def continue_run(run_id: str, body: RunContinue, manager: ManagerDep) -> Any:
    """Continue a completed, stopped or interrupted run for `epochs` more; new epochs are appended.

    The run resumes from its last checkpoint (for a completed run, its final state) bit for bit as if it had
    been configured with the longer training.epochs from the start.
    """
    return await manager.continue_run(run_id, body.epochs)
