"""/api/datasets: previews of the built-in datasets, and CSV uploads usable as data.csv_id."""

from __future__ import annotations

import asyncio
import secrets
import time
from functools import partial
from typing import Any

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from engine.config import MAX_SAMPLES, DataConfig
from engine.datasets import DATASETS, TooManyColumns, csv_head, load_csv, make_dataset
from server.deps import ManagerDep
from server.errors import ApiError, validation_error
from server.predict import finite_list
from server.ratelimit import run_limited
from server.schemas import DatasetPublic, DatasetsPublic, DatasetUpload, ErrorPublic

router = APIRouter(prefix="/api/datasets", tags=["datasets"])

GENERATED = [name for name in DATASETS if name != "csv"]
HEAD_ROWS = 20
UPLOAD_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {"schema": DatasetUpload.model_json_schema()},
    },
}


@router.get("", response_model=DatasetsPublic)
async def read_datasets(manager: ManagerDep) -> Any:
    """The built-in dataset names and the uploaded CSVs."""
    await manager.store.aflush()
    uploads = await asyncio.to_thread(manager.store.list_datasets)
    return {"generated": GENERATED, "uploads": uploads}


@router.get("/{name}", response_model=dict[str, Any], responses={404: {"model": ErrorPublic}})
async def read_dataset(
    name: str,
    manager: ManagerDep,
    n_samples: int | None = Query(None, ge=10, le=MAX_SAMPLES),
    noise: float = Query(0.0, ge=0, le=50),
    train_ratio: float = Query(0.5, ge=0.1, le=0.9),
    classes: int = Query(2, ge=2, le=10),
    seed: int = Query(0, ge=0, le=2**32 - 1),
    images: int = Query(16, ge=1, le=256, description="digits: how many images to return"),
) -> Any:
    """A preview: a 2-D dataset's points with train/test labels, digit images, or an upload's first rows."""
    if name in GENERATED:
        try:
            data = DataConfig(
                dataset=name, n_samples=n_samples, noise=noise, train_ratio=train_ratio, classes=classes
            )
        except ValidationError as error:
            raise validation_error(error, ("query",)) from None
        return await asyncio.to_thread(_preview, data, seed, images)
    upload = await asyncio.to_thread(manager.store.get_dataset, name)
    if upload is None:
        raise ApiError(
            404, f"unknown dataset {name!r}; valid: {', '.join(GENERATED)} or an uploaded dataset id"
        )
    head = await asyncio.to_thread(csv_head, upload["csv"], HEAD_ROWS)
    return {key: upload[key] for key in ("id", "name", "columns", "rows", "task")} | {
        "input": "table",
        "head": head,
    }


@router.delete(
    "/{name}",
    status_code=204,
    responses={404: {"model": ErrorPublic}, 409: {"model": ErrorPublic, "description": "a run uses it"}},
)
async def delete_dataset(name: str, manager: ManagerDep) -> Response:
    """Delete an uploaded CSV; ended runs that used it keep their records, but predict and the lab need it."""
    await manager.delete_dataset(name)
    return Response(status_code=204)


def _preview(data: DataConfig, seed: int, images: int) -> dict[str, Any]:
    dataset = make_dataset(data, np.random.default_rng(seed))
    preview: dict[str, Any] = {
        "name": data.dataset,
        "task": dataset.task,
        "num_classes": dataset.num_classes,
        "train_samples": len(dataset.x_train),
        "test_samples": len(dataset.x_test),
    }
    if dataset.points_train is not None:
        return preview | {
            "input": "2d",
            "domain": list(dataset.domain),
            "train": {"x": finite_list(dataset.points_train), "y": finite_list(dataset.y_train.reshape(-1))},
            "test": {"x": finite_list(dataset.points_test), "y": finite_list(dataset.y_test.reshape(-1))},
        }
    shown = dataset.x_train[:images]
    return preview | {
        "input": "image",
        "shape": list(dataset.input_shape),
        "images": finite_list(shown.reshape(len(shown), *dataset.input_shape[-2:])),
        "labels": dataset.y_train[:images].tolist(),
    }


@router.post(
    "",
    status_code=201,
    response_model=DatasetPublic,
    openapi_extra={"requestBody": UPLOAD_BODY},
    responses={400: {"model": ErrorPublic}, 415: {"model": ErrorPublic}, 429: {"model": ErrorPublic}},
)
async def create_dataset(
    request: Request, manager: ManagerDep, name: str | None = Query(None, max_length=200)
) -> Any:
    """Upload a CSV with a header row: the raw file as text/csv, or JSON {"name", "csv"}."""
    text, name, loc = await _upload(request, name)
    info = await _parse(request, text, loc)
    dataset = {
        "id": "csv-" + secrets.token_urlsafe(12),
        "name": name,
        "created_at": time.time(),
        "columns": info["columns"],
        "rows": info["rows"],
        "task": info["task"],
    }
    manager.store.insert_dataset({**dataset, "csv": text})
    await manager.store.aflush()
    return dataset | {"num_classes": info["num_classes"], "class_names": info["class_names"]}


async def _parse(request: Request, text: str, loc: list[str]) -> dict[str, Any]:
    """load_csv on the CSV threads (NNPLAY_CSV_CONCURRENCY), not the pool the rest of the API uses."""
    limiter, settings = request.app.state.csv_limiter, request.app.state.settings
    parse = partial(load_csv, text, max_columns=settings.max_csv_columns)
    waiting = "CSV uploads are waiting (NNPLAY_CSV_QUEUE)"
    try:
        _, _, info = await run_limited(limiter, settings.csv_queue, waiting, parse)
    except TooManyColumns as error:
        raise ApiError(422, f"the CSV cannot be used: {error} (NNPLAY_MAX_CSV_COLUMNS)", loc=loc) from None
    except ValueError as error:
        raise ApiError(422, f"the CSV cannot be used: {error}", loc=loc) from None
    return info


async def _upload(request: Request, name: str | None) -> tuple[str, str | None, list[str]]:
    """The CSV text, its name and where it sits in the body; 400 unless the body is UTF-8."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ("application/json", "text/csv", "text/plain", "application/csv"):
        raise ApiError(
            415, f'send the CSV as text/csv or as JSON {{"name", "csv"}}, not {media_type or "no type"}'
        )
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            400, f"the request body is not UTF-8 text (byte {error.start} cannot be decoded)"
        ) from None
    if media_type != "application/json":
        return text, name, ["body"]
    try:
        upload = DatasetUpload.model_validate_json(text)
    except ValidationError as error:
        raise validation_error(error) from None
    return upload.csv, upload.name or name, ["body", "csv"]
