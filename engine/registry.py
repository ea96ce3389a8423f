"""What every family shares: keras-style `get(spec)` lookup in a registry dict, and parameter checks."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from numbers import Real


def lookup(family: str, registry: Mapping, base: type, spec, key: str = "name", prefix_errors: bool = False):
    """registry[name](**params) from a name, a {key: name, **params} dict, a pydantic model or an instance."""
    if isinstance(spec, base):
        return spec
    if hasattr(spec, "model_dump"):
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


def real(name: str, value, low: float, high: float = math.inf, interval: str = "[]") -> float:
    """value as a float in the interval ("[]", "[)", "(]" or "()") from low to high, or a ValueError."""
    ok = isinstance(value, Real) and not isinstance(value, bool)
    ok = ok and (low <= value if interval[0] == "[" else low < value)
    ok = ok and (value <= high if interval[1] == "]" else value < high)
    if not ok:
        raise ValueError(f"{name} must be a number in {interval[0]}{low}, {high}{interval[1]}, got {value!r}")
    return float(value)


def checked(owner: str, key: str, value, bounds: Mapping, choices: Mapping):
    """A class parameter checked against its class's `bounds` (inclusive) or `choices`."""
    if key in choices:
        if value not in choices[key]:
            raise ValueError(f"{owner}: parameter {key!r} must be one of {list(choices[key])}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{owner}: parameter {key!r} must be a number, got {value!r}")
    low, high = bounds[key]
    if not low <= value <= high:
        raise ValueError(f"{owner}: parameter {key!r} must be in [{low}, {high}], got {value!r}")
    return float(value)
