"""POST /api/preview: the untrained network's epoch-0 record (pictures before training), in a thread."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.config import RunConfig
from server.deps import ManagerDep, SettingsDep
from server.limits import dataset_text, preflight
from server.ratelimit import run_limited
from server.schemas import ErrorPublic, RunCreate

router = APIRouter(prefix="/api", tags=["plan"])


def _initial_record(config: RunConfig, csv_text: str | None, settings) -> str:
    from engine.trainer import Trainer

    preflight(config, csv_text, settings)
    return Trainer(config, csv_text=csv_text).initial_record().model_dump_json()


@router.post(
    "/preview",
    response_model=dict[str, Any],
    responses={
        422: {"model": ErrorPublic, "description": "the config cannot run, or breaks a server limit"},
        429: {"model": ErrorPublic, "description": "NNPLAY_PREVIEW_QUEUE previews already wait"},
    },
)
async def create_preview(
    body: RunCreate, request: Request, manager: ManagerDep, settings: SettingsDep
) -> Response:
    """Epoch 0 of the run this config would start: its seed's untrained weights, boundary, neuron pictures,
    histograms and losses, as a run's first heavy record. NNPLAY_PREVIEW_CONCURRENCY at once."""
    config = RunConfig.model_validate(body.run_config())
    csv_text = await dataset_text(config, manager.store)
    waiting = "previews are waiting (NNPLAY_PREVIEW_QUEUE)"
    limiter = request.app.state.preview_limiter
    queue = settings.preview_queue
    record = await run_limited(limiter, queue, waiting, _initial_record, config, csv_text, settings)
    return Response(record, media_type="application/json")
