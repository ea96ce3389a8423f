"""POST /api/plan: a RunConfig as the engine resolves it (layers, shapes, loss, memory, torch code)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from engine.config import RunConfig
from server.deps import ManagerDep, SettingsDep
from server.errors import ApiError
from server.limits import check_config, check_plan, dataset_text, plan_run
from server.schemas import ErrorPublic, RunCreate

router = APIRouter(prefix="/api", tags=["plan"])


def _planned(config: RunConfig, csv_text: str | None, settings) -> dict[str, Any]:
    planned = plan_run(config, csv_text)
    problem = None
    try:
        check_config(config, settings)
        check_plan(config, planned, settings)
    except ApiError as error:
        problem = error.details[0] if error.details else {"loc": ["body"], "msg": error.msg}
    limits = {
        "max_parameters": settings.max_parameters,
        "max_run_memory_mb": settings.max_run_memory_mb,
        "compute_budget": settings.compute_budget,
        "problem": problem,
    }
    return {**planned.to_dict(), "limits": limits}


@router.post(
    "/plan",
    response_model=dict[str, Any],
    responses={422: {"model": ErrorPublic, "description": "the config cannot run on its data"}},
)
async def create_plan(body: RunCreate, manager: ManagerDep, settings: SettingsDep) -> dict[str, Any]:
    """The engine's plan of a run: every layer with its index, shapes and parameters, the inserted layers,
    task, classes, loss, output units, memory estimate, torch code, and the first server limit it breaks."""
    config = RunConfig.model_validate(body.run_config())
    csv_text = await dataset_text(config, manager.store)
    return await asyncio.to_thread(_planned, config, csv_text, settings)
