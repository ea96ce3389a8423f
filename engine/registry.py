"""What every family shares: keras-style `get(spec)` lookup in a registry dict, and a number check."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from numbers import Real
from typing import TypeVar

from pydantic import BaseModel

Built = TypeVar("Built")


def lookup(
    family: str,
    registry: Mapping[str, Callable[..., Built]],
    base: type[Built],
    spec: object,
    key: str = "name",
    prefix_errors: bool = False,
) -> Built:
    """registry[name](**params) from a name, a {key: name, **params} dict, a pydantic model or an instance."""
    if isinstance(spec, base):
        return spec
    if isinstance(spec, BaseModel):
        spec = spec.model_dump()
    if isinstance(spec, str):
        spec = {key: spec}
    if not isinstance(spec, Mapping):
        raise ValueError(f"{family} must be a name, a dict or a {base.__name__}, got {spec!r}")
    params = dict(spec)
    name = params.pop(key, None)
    if not isinstance(name, str) or name not in registry:
        raise ValueError(f"unknown {family} {name!r}; valid: {', '.join(registry)}")
    factory = registry[name]
    accepted = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            valid = ", ".join(accepted) or "none"
            raise ValueError(f"{name}: unknown parameter {unknown[0]!r}; valid parameters: {valid}")
    missing = [k for k, p in accepted.items() if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    missing = [k for k in missing if k not in params]
    if missing:
        raise ValueError(f"{name}: missing required parameter {missing[0]!r}")
    if not prefix_errors:
        return factory(**params)
    try:
        return factory(**params)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def real(name: str, value: object, low: float, high: float = math.inf, interval: str = "[]") -> float:
    """value as a float in the interval ("[]", "[)", "(]" or "()") from low to high, or a ValueError."""
    problem = f"{name} must be a number in {interval[0]}{low}, {high}{interval[1]}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(problem)
    number = float(value)
    above = low <= number if interval[0] == "[" else low < number
    below = number <= high if interval[1] == "]" else number < high
    if not (above and below):
        raise ValueError(problem)
    return number
