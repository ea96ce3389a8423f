"""Checks a run must pass before it is queued: layer, unit and parameter limits and the compute budget."""

from __future__ import annotations

import logging
from typing import Any

from engine.config import RunConfig
from server.errors import ApiError
from server.settings import Settings

log = logging.getLogger("nnplay.server")


def _too_many(what: str, count: int, limit: int, setting: str, loc: list) -> ApiError:
    return ApiError(422, f"{what} {count:,}; the limit is {limit:,} ({setting})", loc=loc)


def parameters_lower_bound(config: RunConfig) -> int:
    """Parameters of consecutive dense/maxout layers whose input width is known from the config alone."""
    width, total = None, 0
    for layer in config.model.layers:
        if layer.type in ("dense", "maxout"):
            pieces = getattr(layer, "pieces", 1)
            if width is not None:
                total += width * layer.units * pieces
            width = layer.units
        elif layer.type not in ("activation", "dropout", "batchnorm"):
            width = None
    return total


def check_config(config: RunConfig, settings: Settings) -> None:
    """The limits that need no data: raises a 422 ApiError naming the field."""
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
    bound = parameters_lower_bound(config)
    if bound > settings.max_parameters:
        raise _too_many(
            "the model has at least parameters:",
            bound,
            settings.max_parameters,
            "NNPLAY_MAX_PARAMETERS",
            ["body", "model", "layers"],
        )


def preflight(config: RunConfig, csv_text: str | None, settings: Settings) -> dict[str, Any]:
    """Build the run once (blocking: call it in a thread) to count its parameters and samples."""
    from engine.trainer import Trainer

    check_config(config, settings)
    try:
        trainer = Trainer(config, csv_text=csv_text)
    except ValueError as error:
        raise ApiError(422, f"the run cannot be built: {error}", loc=["body"]) from None
    except Exception as error:
        log.exception("building a run failed")
        raise ApiError(
            422, f"the run cannot be built: {type(error).__name__}: {error}", loc=["body"]
        ) from None
    parameters, samples = int(trainer.num_parameters), len(trainer.x_train)
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
    return {"num_parameters": parameters, "train_samples": samples, "summary": trainer.model.summary()}
