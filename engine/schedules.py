"""Learning-rate schedules: the closed forms of PyTorch's schedulers stepped once per epoch."""

from __future__ import annotations

import inspect
import math
from bisect import bisect_right

from engine.registry import integer, lookup, real


class Schedule:
    """Base schedule: `lr_at(epoch, base_lr)` is the lr for 0-based `epoch`; lr_at(0, base) = base."""

    torch_class = "LambdaLR"
    torch_names: dict[str, str] = {}

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return base_lr

    def torch(self, optimizer: str = "optimizer") -> str:
        """The equivalent torch.optim.lr_scheduler scheduler (stepped once per epoch), as an expression."""
        params = inspect.signature(type(self)).parameters
        args = "".join(f", {self.torch_names.get(k, k)}={getattr(self, k)!r}" for k in params)
        return f"torch.optim.lr_scheduler.{self.torch_class}({optimizer}{args})"

    def __repr__(self):
        params = ", ".join(f"{k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({params})"


class Constant(Schedule):
    """lr = base_lr."""

    def torch(self, optimizer: str = "optimizer") -> str:
        return f"torch.optim.lr_scheduler.LambdaLR({optimizer}, lambda epoch: 1.0)"


class Step(Schedule):
    """StepLR: lr = base_lr * gamma ** (epoch // step_size)."""

    torch_class = "StepLR"

    def __init__(self, step_size=30, gamma=0.1):
        self.step_size = integer("step_size", step_size)
        self.gamma = real("gamma", gamma, 0, interval="(]")

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStep(Schedule):
    """MultiStepLR: lr = base_lr * gamma ** (number of milestones <= epoch)."""

    torch_class = "MultiStepLR"

    def __init__(self, milestones=(50, 100), gamma=0.1):
        if isinstance(milestones, str) or not hasattr(milestones, "__iter__"):
            raise ValueError(f"milestones must be a list of epochs, got {milestones!r}")
        self.milestones = sorted(integer("milestones", m) for m in milestones)
        self.gamma = real("gamma", gamma, 0, interval="(]")

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** bisect_right(self.milestones, epoch)


class Exponential(Schedule):
    """ExponentialLR: lr = base_lr * gamma ** epoch."""

    torch_class = "ExponentialLR"

    def __init__(self, gamma=0.99):
        self.gamma = real("gamma", gamma, 0, interval="(]")

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma**epoch


class Cosine(Schedule):
    """CosineAnnealingLR: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2."""

    torch_class = "CosineAnnealingLR"
    torch_names = {"t_max": "T_max"}

    def __init__(self, t_max=100, eta_min=0.0):
        self.t_max = integer("t_max", t_max)
        self.eta_min = real("eta_min", eta_min, 0)

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
    return lookup("schedule", SCHEDULES, Schedule, spec)
