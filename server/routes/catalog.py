"""GET /api/catalog: every engine registry with parameters, bounds and defaults, for the browser's forms."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from engine import catalog as engine_catalog
from server.deps import SettingsDep

router = APIRouter(prefix="/api/catalog", tags=["catalog"])


def _catalog() -> dict[str, Any]:
    source = engine_catalog.catalog
    return source() if callable(source) else source


@router.get("", response_model=dict[str, Any])
async def read_catalog(settings: SettingsDep) -> dict[str, Any]:
    catalog = await asyncio.to_thread(_catalog)
    server_limits = {
        "max_layers": settings.max_layers,
        "max_units": settings.max_units,
        "max_parameters": settings.max_parameters,
        "compute_budget": settings.compute_budget,
        "run_deadline_seconds": settings.run_deadline_seconds,
        "max_upload_bytes": settings.max_upload_bytes,
        "max_predict_rows": settings.max_predict_rows,
    }
    limits = {**catalog.get("limits", {})}
    for key, value in server_limits.items():
        limits[key] = min(limits[key], value) if isinstance(limits.get(key), int | float) else value
    return {**catalog, "limits": limits}
