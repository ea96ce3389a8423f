"""Request and response bodies of the REST API and the websocket stream."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.config import RunConfig

RunStatus = Literal[
    "queued", "running", "paused", "completed", "stopped", "diverged", "failed", "interrupted"
]
FINISHED = ("completed", "stopped", "diverged", "failed", "interrupted")
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


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


class ControlRequest(BaseModel):
    """pause, resume, step (one epoch, then paused), stop, set lr / regularization_rate mid-run, or weight:
    set weight[to_unit, from_unit] of dense layer `layer` (a state_dict index) to `value`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    action: Literal["pause", "resume", "step", "stop", "set", "weight"]
    lr: float | None = Field(None, gt=0, le=10)
    regularization_rate: float | None = Field(None, ge=0, le=10)
    layer: int | None = Field(None, ge=0, le=10_000, description="weight: the dense layer's index")
    from_unit: int | None = Field(None, ge=0, le=1_000_000, description="weight: the input unit (column)")
    to_unit: int | None = Field(None, ge=0, le=1_000_000, description="weight: the output unit (row)")
    value: float | None = Field(None, ge=-1000, le=1000, description="weight: the new value")

    @model_validator(mode="after")
    def _set_needs_a_value(self) -> ControlRequest:
        if self.action == "set" and self.lr is None and self.regularization_rate is None:
            raise ValueError("action 'set' needs lr or regularization_rate")
        if self.action != "set" and (self.lr is not None or self.regularization_rate is not None):
            raise ValueError(f"lr and regularization_rate go with action 'set', not {self.action!r}")
        given = [name for name in WEIGHT_FIELDS if getattr(self, name) is not None]
        if self.action == "weight" and len(given) < len(WEIGHT_FIELDS):
            missing = ", ".join(name for name in WEIGHT_FIELDS if name not in given)
            raise ValueError(f"action 'weight' needs layer, from_unit, to_unit and value; missing {missing}")
        if self.action != "weight" and given:
            raise ValueError(f"{', '.join(given)} go with action 'weight', not {self.action!r}")
        return self

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude={"action", "type"}, exclude_none=True)


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
