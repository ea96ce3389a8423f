"""Request and response bodies of the REST API and the websocket stream."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.config import RunConfig
from engine.optimizers import OPTIMIZERS
from engine.schema import Shared

RunStatus = Literal[
    "queued", "running", "paused", "completed", "stopped", "diverged", "failed", "interrupted"
]
FINISHED = ("completed", "stopped", "diverged", "failed", "interrupted")
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
LiveLearningRate = Annotated[float, Shared(OPTIMIZERS, "lr")]


class RunCreate(RunConfig):
    """A RunConfig, plus `paused` to create the run paused (it waits for step or resume)."""

    paused: bool = False

    @model_validator(mode="wrap")
    @classmethod
    def _engine_errors_are_validation_errors(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except (TypeError, KeyError, IndexError, AttributeError, ArithmeticError) as error:
            raise ValueError(f"invalid run config: {error}") from error

    def run_config(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"paused"})


class RunPublic(BaseModel):
    """A run: its config, where it is in its life cycle, and the latest epoch's scalars."""

    id: str
    name: str | None = None
    status: RunStatus
    message: str | None = None
    config: dict[str, Any]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    epochs: int = 0
    last: dict[str, Any] | None = Field(None, description="the scalars of the latest epoch")
    num_parameters: int | None = None
    summary: list[dict[str, Any]] | None = None


class RunsPublic(BaseModel):
    data: list[RunPublic]
    count: int


WEIGHT_FIELDS = ("layer", "from_unit", "to_unit", "value")


class LiveOptimizer(BaseModel):
    """The optimizer's fields a run takes mid-run, named as in RunConfig.optimizer.

    lr is within the bounds every registered optimizer's schema gives its lr, whichever optimizer the run has.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lr: LiveLearningRate


class LiveRegularization(BaseModel):
    """The regularization fields a run takes mid-run, named as in RunConfig.regularization."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rate: float = Field(ge=0, le=10)


class ControlRequest(BaseModel):
    """pause, resume, step (one epoch, then paused), stop, set optimizer.lr / regularization.rate mid-run (as
    {"optimizer": {"lr": ...}, "regularization": {"rate": ...}}, RunConfig's names; a top-level `lr` is
    accepted for optimizer.lr), or weight: set weight[to_unit, from_unit] of dense layer `layer` (a state_dict
    index) to `value`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    action: Literal["pause", "resume", "step", "stop", "set", "weight"]
    optimizer: LiveOptimizer | None = None
    regularization: LiveRegularization | None = None
    lr: LiveLearningRate | None = Field(None, description="the same as optimizer.lr")
    layer: int | None = Field(None, ge=0, le=10_000, description="weight: the dense layer's index")
    from_unit: int | None = Field(None, ge=0, le=1_000_000, description="weight: the input unit (column)")
    to_unit: int | None = Field(None, ge=0, le=1_000_000, description="weight: the output unit (row)")
    value: float | None = Field(None, ge=-1000, le=1000, description="weight: the new value")

    @model_validator(mode="after")
    def _set_needs_a_value(self) -> ControlRequest:
        live = [self.optimizer, self.regularization, self.lr]
        if self.action == "set" and all(value is None for value in live):
            raise ValueError("action 'set' needs optimizer.lr or regularization.rate")
        if self.action != "set" and any(value is not None for value in live):
            raise ValueError(f"optimizer.lr and regularization.rate go with 'set', not {self.action!r}")
        if self.lr is not None and self.optimizer is not None:
            raise ValueError("give the learning rate once: optimizer.lr (or lr), not both")
        given = [name for name in WEIGHT_FIELDS if getattr(self, name) is not None]
        if self.action == "weight" and len(given) < len(WEIGHT_FIELDS):
            missing = ", ".join(name for name in WEIGHT_FIELDS if name not in given)
            raise ValueError(f"action 'weight' needs layer, from_unit, to_unit and value; missing {missing}")
        if self.action != "weight" and given:
            raise ValueError(f"{', '.join(given)} go with action 'weight', not {self.action!r}")
        return self

    def payload(self) -> dict[str, Any]:
        """The fields for the worker; a top-level lr is given as optimizer.lr."""
        payload = self.model_dump(exclude={"action", "type", "lr"}, exclude_none=True)
        if self.lr is not None:
            payload["optimizer"] = {"lr": self.lr}
        return payload


class StreamControl(ControlRequest):
    """A control message sent on the websocket."""

    type: Literal["control"]


class ControlPublic(BaseModel):
    run: RunPublic
    accepted: str = Field(description="the action, delivered; the run acts on it before its next epoch")


class PredictRequest(BaseModel):
    """Rows of inputs: raw (x1, x2) points for 2-D datasets, else the model's input flattened in C order."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[list[FiniteFloat]] = Field(min_length=1)


class PredictPublic(BaseModel):
    outputs: list[list[float | None]]
    probabilities: list[list[float | None]] | None = None
    predictions: list[float | int | None]
    task: str


class TensorPublic(BaseModel):
    shape: list[int]
    dtype: str
    values: Any


class ModelPublic(BaseModel):
    """The run's config, its torch-compatible state_dict, and for CSV data the standardisation of raw rows."""

    run_id: str
    config: dict[str, Any]
    scaling: dict[str, list[float]] | None = Field(
        None, description="CSV runs: inputs = (raw - x_mean) / x_std; regression outputs * y_std + y_mean"
    )
    state_dict: dict[str, TensorPublic]


class DatasetUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    csv: str = Field(min_length=1)


class DatasetPublic(BaseModel):
    """An uploaded CSV: use its id as data.csv_id in a RunConfig."""

    id: str
    name: str | None = None
    columns: list[str]
    rows: int
    task: str | None = None
    num_classes: int | None = None
    class_names: list[str] | None = None
    created_at: datetime


class DatasetsPublic(BaseModel):
    generated: list[str]
    uploads: list[DatasetPublic]


class HealthPublic(BaseModel):
    status: Literal["ok"]
    version: str
    workers: int
    max_runs: int
    active_runs: int
    queued_runs: int


class ErrorPublic(BaseModel):
    detail: str | list[dict[str, Any]]
