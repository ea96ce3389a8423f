"""Learning-rate schedules: the closed forms of PyTorch's schedulers stepped once per epoch.

Each schedule declares its config schema (`Config`, e.g. StepLR) beside its class and checks its
arguments with it.
"""

from __future__ import annotations

import inspect
import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from engine.registry import lookup
from engine.schema import MAX_EPOCHS, SpecLike, Strict, validated


class Schedule:
    """Base schedule: `lr_at(epoch, base_lr)` is the lr for 0-based `epoch`; lr_at(0, base) = base."""

    Config: ClassVar[type[Strict]]
    torch_class = "LambdaLR"
    torch_names: dict[str, str] = {}

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return base_lr

    def torch(self, optimizer: str = "optimizer") -> str:
        """The equivalent torch.optim.lr_scheduler scheduler (stepped once per epoch), as an expression."""
        params = inspect.signature(type(self)).parameters
        args = "".join(f", {self.torch_names.get(k, k)}={getattr(self, k)!r}" for k in params)
        return f"torch.optim.lr_scheduler.{self.torch_class}({optimizer}{args})"

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({params})"


class ConstantLR(Strict):
    """lr stays at its base value."""

    name: Literal["constant"] = "constant"


class Constant(Schedule):
    """lr = base_lr."""

    Config = ConstantLR

    def torch(self, optimizer: str = "optimizer") -> str:
        return f"torch.optim.lr_scheduler.LambdaLR({optimizer}, lambda epoch: 1.0)"


class StepLR(Strict):
    """lr = base * gamma ** (epoch // step_size)."""

    name: Literal["step"] = "step"
    step_size: int = Field(30, ge=1, le=MAX_EPOCHS)
    gamma: float = Field(0.1, gt=0, le=1)


class Step(Schedule):
    """StepLR: lr = base_lr * gamma ** (epoch // step_size)."""

    Config = StepLR
    torch_class = "StepLR"

    def __init__(self, step_size: int = 30, gamma: float = 0.1) -> None:
        config = validated(self.Config, step_size=step_size, gamma=gamma)
        self.step_size, self.gamma = config.step_size, config.gamma

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


Milestone = Annotated[int, Field(ge=1, le=MAX_EPOCHS, strict=True)]


class MultiStepLR(Strict):
    """lr = base * gamma ** (number of milestones <= epoch)."""

    name: Literal["multistep"] = "multistep"
    milestones: list[Milestone] = Field(
        default_factory=lambda: [50, 100], min_length=1, max_length=32, strict=False
    )
    gamma: float = Field(0.1, gt=0, le=1)

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: list[int]) -> list[int]:
        if any(b <= a for a, b in zip(milestones, milestones[1:], strict=False)):
            raise ValueError("milestones must be strictly increasing")
        return milestones


class MultiStep(Schedule):
    """MultiStepLR: lr = base_lr * gamma ** (number of milestones <= epoch)."""

    Config = MultiStepLR
    torch_class = "MultiStepLR"

    def __init__(self, milestones: Sequence[int] = (50, 100), gamma: float = 0.1) -> None:
        config = validated(self.Config, milestones=milestones, gamma=gamma)
        self.milestones, self.gamma = config.milestones, config.gamma

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** bisect_right(self.milestones, epoch)


class ExponentialLR(Strict):
    """lr = base * gamma ** epoch."""

    name: Literal["exponential"] = "exponential"
    gamma: float = Field(0.99, gt=0, le=1)


class Exponential(Schedule):
    """ExponentialLR: lr = base_lr * gamma ** epoch."""

    Config = ExponentialLR
    torch_class = "ExponentialLR"

    def __init__(self, gamma: float = 0.99) -> None:
        self.gamma = validated(self.Config, gamma=gamma).gamma

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma**epoch


class CosineLR(Strict):
    """lr = eta_min + (base - eta_min) * (1 + cos(pi * epoch / t_max)) / 2."""

    name: Literal["cosine"] = "cosine"
    t_max: int = Field(100, ge=1, le=MAX_EPOCHS)
    eta_min: float = Field(0.0, ge=0, le=10)


class Cosine(Schedule):
    """CosineAnnealingLR: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2."""

    Config = CosineLR
    torch_class = "CosineAnnealingLR"
    torch_names = {"t_max": "T_max"}

    def __init__(self, t_max: int = 100, eta_min: float = 0.0) -> None:
        config = validated(self.Config, t_max=t_max, eta_min=eta_min)
        self.t_max, self.eta_min = config.t_max, config.eta_min

    def lr_at(self, epoch: int, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.t_max)) / 2


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": Step,
    "multistep": MultiStep,
    "exponential": Exponential,
    "cosine": Cosine,
}


def get(spec: SpecLike | BaseModel | Schedule) -> Schedule:
    """A schedule from a name, a {"name": ..., **params} dict, a pydantic schedule config or an instance."""
    return lookup("schedule", SCHEDULES, Schedule, spec)
