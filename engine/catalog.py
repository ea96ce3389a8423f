"""The catalog: every registry with its parameters, types, bounds and defaults, for building forms."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from engine import activations, config, initializers, layers, losses, model, optimizers, penalties, schedules
from engine.datasets import DATASETS, FEATURES

_TYPES = {
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "string": "string",
    "array": "array",
}
_SPEC_FIELDS = {
    "activation": "activation",
    "name": "activation",
    "weight_init": "initializer",
    "bias_init": "initializer",
}


def _param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf", [schema])
    nullable = any(option.get("type") == "null" for option in options)
    concrete = [option for option in options if option.get("type") != "null"]
    main = concrete[0] if concrete else {}
    param: dict[str, Any] = {
        "type": _SPEC_FIELDS.get(name) or _TYPES.get(str(main.get("type")), "spec"),
        "default": schema.get("default"),
    }
    if name not in _SPEC_FIELDS and ("enum" in main or "const" in main):
        param["type"], param["choices"] = "enum", main.get("enum", [main.get("const")])
    if any("const" in option for option in concrete) and any(
        option.get("type") == "integer" for option in concrete
    ):
        param["type"], param["choices"] = (
            "integer",
            [option["const"] for option in concrete if "const" in option],
        )
        main = next(option for option in concrete if option.get("type") == "integer")
    for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if bound in main:
            param[bound] = main[bound]
    if nullable:
        param["nullable"] = True
    if "description" in schema:
        param["description"] = schema["description"]
    return param


def _model_params(cls: type[BaseModel], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    properties = cls.model_json_schema()["properties"]
    params = {name: _param(name, schema) for name, schema in properties.items() if name not in skip}
    defaults = cls.model_construct().model_dump(mode="json")
    for name, param in params.items():
        param["default"] = defaults[name]
    return params


def _doc(obj: object) -> str:
    return (inspect.getdoc(obj) or "").split("\n")[0]


def _schemas(registry: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Each registered component's schema as {name: {doc, params}}, the discriminator `key` left out."""
    return {
        name: {"doc": _doc(entry.Config), "params": _model_params(entry.Config, skip=(key,))}
        for name, entry in registry.items()
    }


REGISTRIES = (
    layers.LAYERS,
    activations.ACTIVATIONS,
    initializers.INITIALIZERS,
    losses.LOSSES,
    optimizers.OPTIMIZERS,
    schedules.SCHEDULES,
    penalties.PENALTIES,
    DATASETS,
)


@lru_cache(maxsize=4)
def _catalog(registered: tuple[tuple[str, int], ...]) -> dict[str, Any]:
    return {
        "layers": _schemas(layers.LAYERS, "type"),
        "activations": {
            name: {"doc": _doc(cls), "kind": cls.kind, "params": _model_params(cls.Config, skip=("name",))}
            for name, cls in activations.ACTIVATIONS.items()
        },
        "initializers": {
            name: {"doc": _doc(init), "params": _model_params(init.Config, skip=("name",))}
            for name, init in initializers.INITIALIZERS.items()
        },
        "losses": {
            name: {"doc": _doc(cls), "task": cls.task, "params": _model_params(cls.Config, skip=("name",))}
            for name, cls in losses.LOSSES.items()
        },
        "optimizers": _schemas(optimizers.OPTIMIZERS, "name"),
        "schedules": _schemas(schedules.SCHEDULES, "name"),
        "penalties": {name: {"doc": _doc(cls)} for name, cls in penalties.PENALTIES.items()},
        "datasets": {
            name: {key: entry[key] for key in ("doc", "task", "input", "default_samples")}
            for name, entry in DATASETS.items()
        },
        "features": list(FEATURES),
        "sections": {
            "data": _model_params(config.DataConfig),
            "training": _model_params(config.TrainingConfig, skip=("early_stopping",)),
            "early_stopping": _model_params(config.EarlyStopping),
            "regularization": _model_params(config.RegularizationConfig),
            "telemetry": _model_params(config.TelemetryConfig),
        },
        "limits": {
            "max_layers": config.MAX_LAYERS,
            "max_units": config.MAX_UNITS,
            "max_filters": config.MAX_FILTERS,
            "max_epochs": config.MAX_EPOCHS,
            "max_samples": config.MAX_SAMPLES,
            "max_parameters": model.MAX_PARAMETERS,
        },
        "defaults": config.RunConfig().model_dump(mode="json"),
    }


def catalog() -> dict[str, Any]:
    """Everything the browser needs to build its forms, generated from the engine's own definitions.

    Built once per state of the registries: a component registered later is in the next answer.
    """
    return _catalog(tuple((name, id(entry)) for registry in REGISTRIES for name, entry in registry.items()))


catalog.cache_clear = _catalog.cache_clear  # type: ignore[attr-defined]
