"""Learning-rate schedules: the closed forms of PyTorch's schedulers stepped once per epoch."""

from __future__ import annotations

import inspect
import math
from bisect import bisect_right
from collections.abc import Mapping
from numbers import Integral, Real


def _int(name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _real(name, value, low, high=math.inf, low_open=False):
    bad = isinstance(value, bool) or not isinstance(value, Real) or not low <= value <= high
    if bad or (low_open and value == low):
        interval = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


class Schedule:
    """Base schedule: `lr_at(epoch, base_lr)` is the lr for 0-based `epoch`; lr_at(0, base) = base."""

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return base_lr

    def __repr__(self):
        params = ", ".join(f"{k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({params})"


class Constant(Schedule):
    """lr = base_lr."""


class Step(Schedule):
    """StepLR: lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, step_size=30, gamma=0.1):
        self.step_size = _int("step_size", step_size)
        self.gamma = _real("gamma", gamma, 0, low_open=True)

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStep(Schedule):
    """MultiStepLR: lr = base_lr * gamma ** (number of milestones <= epoch)."""

    def __init__(self, milestones=(50, 100), gamma=0.1):
        if isinstance(milestones, str) or not hasattr(milestones, "__iter__"):
            raise ValueError(f"milestones must be a list of epochs, got {milestones!r}")
        self.milestones = sorted(_int("milestones", m) for m in milestones)
        self.gamma = _real("gamma", gamma, 0, low_open=True)

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** bisect_right(self.milestones, epoch)


class Exponential(Schedule):
    """ExponentialLR: lr = base_lr * gamma ** epoch."""

    def __init__(self, gamma=0.99):
        self.gamma = _real("gamma", gamma, 0, low_open=True)

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma**epoch


class Cosine(Schedule):
    """CosineAnnealingLR: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2."""

    def __init__(self, t_max=100, eta_min=0.0):
        self.t_max = _int("t_max", t_max)
        self.eta_min = _real("eta_min", eta_min, 0)

    def lr_at(self, epoch, base_lr):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.t_max)) / 2


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": Step,
    "multistep": MultiStep,
    "exponential": Exponential,
    "cosine": Cosine,
}


def get(spec) -> Schedule:
    """A schedule from a name, a {"name": ..., **params} dict, a pydantic schedule config or an instance."""
    if isinstance(spec, Schedule):
        return spec
    if hasattr(spec, "model_dump"):
        spec = spec.model_dump()
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(f"schedule must be a name, a dict or a Schedule, got {spec!r}")
    params = dict(spec)
    name = params.pop("name", None)
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    accepted = inspect.signature(SCHEDULES[name]).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        valid = ", ".join(accepted) or "none"
        raise ValueError(f"{name}: unknown parameter {unknown[0]!r}; valid parameters: {valid}")
    return SCHEDULES[name](**params)
