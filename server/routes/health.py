"""GET /api/health: liveness and load, open even when a token is required."""

from __future__ import annotations

from fastapi import APIRouter

from server import __version__
from server.deps import ManagerDep, SettingsDep
from server.schemas import HealthPublic

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("", response_model=HealthPublic)
async def read_health(manager: ManagerDep, settings: SettingsDep) -> HealthPublic:
    runs = [run for run in manager.active.values() if not run.finished]
    return HealthPublic(
        status="ok",
        version=__version__,
        workers=len(manager.executor.pids) if hasattr(manager.executor, "pids") else 0,
        max_runs=settings.max_runs,
        active_runs=sum(run.status != "queued" for run in runs),
        queued_runs=sum(run.status == "queued" for run in runs),
    )
