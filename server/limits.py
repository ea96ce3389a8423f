"""Checks a run must pass before it is queued, all read from its plan (nothing is built or allocated)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from engine.config import RunConfig
from engine.plan import Plan, PlanError, plan
from server.errors import ApiError
from server.settings import Settings
from server.store import Store

log = logging.getLogger(__name__)

MEMORY_ADVICE = {
    "model": "use fewer or smaller layers",
    "data": "use fewer samples",
    "training_batch": "use a smaller batch_size",
    "evaluation": "use fewer samples or a smaller network",
    "probe": "use a smaller telemetry probe_size",
    "grid": "use a smaller telemetry grid_size",
}


def _too_many(what: str, count: int, limit: int, setting: str, loc: list) -> ApiError:
    return ApiError(422, f"{what} {count:,}; the limit is {limit:,} ({setting})", loc=loc)


def check_config(config: RunConfig, settings: Settings) -> None:
    """The limits on the config as written: raises a 422 ApiError naming the field."""
    layers = config.model.layers
    if len(layers) > settings.max_layers:
        raise _too_many(
            "the model has layers:",
            len(layers),
            settings.max_layers,
            "NNPLAY_MAX_LAYERS",
            ["body", "model", "layers"],
        )
    for index, layer in enumerate(layers):
        for key in ("units", "filters"):
            value = getattr(layer, key, None)
            if value is not None and value > settings.max_units:
                raise _too_many(
                    f"layer {index} has {key}:",
                    value,
                    settings.max_units,
                    "NNPLAY_MAX_UNITS",
                    ["body", "model", "layers", index, key],
                )


async def dataset_text(config: RunConfig, store: Store) -> str | None:
    """The uploaded CSV a config names, read off the event loop; None for generated data."""
    if config.data.dataset != "csv" or config.data.csv_id is None:
        return None
    dataset = await asyncio.to_thread(store.get_dataset, config.data.csv_id)
    if dataset is None:
        raise ApiError(
            422, f"no uploaded dataset with id {config.data.csv_id!r}", loc=["body", "data", "csv_id"]
        )
    return dataset["csv"]


def plan_run(config: RunConfig, csv_text: str | None) -> Plan:
    """The run's plan (blocking: call it in a thread); a config that cannot run is a 422 naming the field."""
    try:
        return plan(config, csv_text=csv_text)
    except PlanError as error:
        raise ApiError(422, f"the run cannot be built: {error}", loc=["body", *error.field]) from None
    except ValueError as error:
        raise ApiError(422, f"the run cannot be built: {error}", loc=["body"]) from None
    except Exception as error:
        log.exception("planning a run failed")
        raise ApiError(
            422, f"the run cannot be built: {type(error).__name__}: {error}", loc=["body"]
        ) from None


def check_plan(config: RunConfig, planned: Plan, settings: Settings) -> None:
    """Parameters, compute budget and memory estimate against the settings: a 422 naming the field."""
    parameters, samples = planned.num_parameters, planned.train_samples
    if parameters > settings.max_parameters:
        raise _too_many(
            "the model has parameters:",
            parameters,
            settings.max_parameters,
            "NNPLAY_MAX_PARAMETERS",
            ["body", "model", "layers"],
        )
    epochs = config.training.epochs
    cost = epochs * samples * parameters
    if cost > settings.compute_budget:
        raise ApiError(
            422,
            f"the run exceeds the compute budget: {epochs} epochs x {samples} train samples x {parameters} "
            f"parameters = {cost:.3g} > {settings.compute_budget:.3g} (NNPLAY_COMPUTE_BUDGET); "
            "use fewer epochs, samples or parameters",
            loc=["body", "training", "epochs"],
        )
    memory = planned.memory
    estimate = memory["bytes"] / 2**20
    if estimate > settings.max_run_memory_mb:
        part = memory["largest"]
        share = memory["parts"][part] / 2**20
        raise ApiError(
            422,
            f"the run needs about {estimate:,.0f} MB of memory ({part.replace('_', ' ')} {share:,.0f} MB); "
            f"the limit is {settings.max_run_memory_mb:,.0f} MB (NNPLAY_MAX_RUN_MEMORY_MB): "
            f"{MEMORY_ADVICE[part]}",
            loc=["body", *memory["field"]],
        )


def preflight(config: RunConfig, csv_text: str | None, settings: Settings) -> dict[str, Any]:
    """Plan the run once (blocking: call it in a thread) and check it; its counts and layer summary."""
    check_config(config, settings)
    planned = plan_run(config, csv_text)
    check_plan(config, planned, settings)
    return {
        "num_parameters": planned.num_parameters,
        "train_samples": planned.train_samples,
        "summary": planned.summary(),
        "memory_bytes": planned.memory["bytes"],
    }
