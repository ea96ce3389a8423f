"""RunConfig: one strict schema for the browser, the REST API, the CLI and Python.

Layers, optimizers, schedules and losses declare their schemas beside their classes; the `layers`,
`optimizer`, `schedule`, `loss` and `output_init` fields accept whatever their registry holds when the value
is validated. The type checker
sees the built-in layer schemas, the optimizers' common base (name, lr) and the schedules' Strict base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.layers import (
    LAYERS,
    ActivationLayer,
    AvgPool2dLayer,
    BatchNormLayer,
    Conv2dLayer,
    DenseLayer,
    DropoutLayer,
    FlattenLayer,
    MaxoutLayer,
    MaxPool2dLayer,
)
from engine.optimizers import OPTIMIZERS, OptimizerSchema
from engine.optimizers import AdagradConfig as Adagrad
from engine.optimizers import AdamConfig as Adam
from engine.optimizers import AdamWConfig as AdamW
from engine.optimizers import RMSpropConfig as RMSprop
from engine.optimizers import SGDConfig as SGD
from engine.schedules import SCHEDULES, ConstantLR, CosineLR, ExponentialLR, MultiStepLR, StepLR
from engine.schema import (
    MAX_EPOCHS,
    MAX_FILTERS,
    MAX_LAYERS,
    MAX_SAMPLES,
    MAX_UNITS,
    Named,
    Registered,
    Spec,
    Strict,
)

DatasetName = Literal[
    "circle", "xor", "gauss", "spiral", "plane", "multi_gauss", "blobs", "moons", "digits", "csv"
]
FeatureName = Literal["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"]
_TWO_FEATURES: list[FeatureName] = ["x1", "x2"]

if TYPE_CHECKING:
    LayerConfig = (
        DenseLayer
        | ActivationLayer
        | DropoutLayer
        | BatchNormLayer
        | Conv2dLayer
        | MaxPool2dLayer
        | AvgPool2dLayer
        | FlattenLayer
        | MaxoutLayer
    )
    OptimizerConfig = OptimizerSchema
    ScheduleConfig = Strict
else:
    LayerConfig = Annotated[Any, Registered(LAYERS, "type")]
    OptimizerConfig = Annotated[Any, Registered(OPTIMIZERS, "name")]
    ScheduleConfig = Annotated[Any, Registered(SCHEDULES, "name")]

__all__ = [
    "MAX_EPOCHS",
    "MAX_FILTERS",
    "MAX_LAYERS",
    "MAX_SAMPLES",
    "MAX_UNITS",
    "SGD",
    "ActivationLayer",
    "Adagrad",
    "Adam",
    "AdamW",
    "AvgPool2dLayer",
    "BatchNormLayer",
    "ConstantLR",
    "Conv2dLayer",
    "CosineLR",
    "DataConfig",
    "DenseLayer",
    "DropoutLayer",
    "EarlyStopping",
    "ExponentialLR",
    "FlattenLayer",
    "LayerConfig",
    "MaxPool2dLayer",
    "MaxoutLayer",
    "ModelConfig",
    "MultiStepLR",
    "OptimizerConfig",
    "RMSprop",
    "RegularizationConfig",
    "RunConfig",
    "ScheduleConfig",
    "Spec",
    "StepLR",
    "Strict",
    "TelemetryConfig",
    "TrainingConfig",
]


class DataConfig(Strict):
    """Which data to learn: a generated dataset, the bundled digits, or an uploaded CSV."""

    dataset: DatasetName = "circle"
    n_samples: int | None = Field(None, ge=10, le=MAX_SAMPLES, description="None: the dataset's default")
    noise: float = Field(0.0, ge=0, le=50, description="percent, as TF-Playground")
    train_ratio: float = Field(0.5, ge=0.1, le=0.9)
    validation: float = Field(
        0.0, ge=0, le=0.5, description="fraction of the training set held out as a validation set"
    )
    classes: int = Field(2, ge=2, le=10, description="classes for spiral and blobs")
    features: list[FeatureName] = Field(default_factory=_TWO_FEATURES.copy, min_length=1, max_length=7)
    images: bool = Field(True, description="digits as (1, 8, 8) images; False gives 64 flat features")
    csv_id: str | None = Field(None, max_length=64)
    target: str | None = Field(None, max_length=200, description="CSV target column; None: the last one")
    task: Literal["auto", "classification", "regression"] = "auto"
    standardize: bool = Field(True, description="standardize CSV features and regression targets")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="data sampling seed; None: the run's seed")

    @field_validator("features")
    @classmethod
    def _unique_features(cls, features: list[str]) -> list[str]:
        if len(set(features)) != len(features):
            raise ValueError("features must not repeat")
        return features

    @model_validator(mode="after")
    def _csv_needs_id(self) -> DataConfig:
        if self.dataset == "csv" and not self.csv_id:
            raise ValueError("dataset 'csv' needs csv_id (the id returned by the upload)")
        return self


def _default_layers() -> list[Any]:
    return [DenseLayer(units=4, activation="tanh"), DenseLayer(units=2, activation="tanh")]


class ModelConfig(Strict):
    """The layer stack; with output=True an output dense layer sized to the problem is appended."""

    layers: list[LayerConfig] = Field(default_factory=_default_layers, max_length=MAX_LAYERS)
    output: bool = True
    output_init: Annotated[Spec, Named("initializer")] = "default"


class RegularizationConfig(Strict):
    """A penalty on dense/conv weights (never biases), reported apart from the data loss."""

    penalty: Literal["none", "l1", "l2"] = "none"
    rate: float = Field(0.0, ge=0, le=10)


class EarlyStopping(Strict):
    """Stop when the monitored loss has not improved by min_delta for patience epochs."""

    patience: int = Field(10, ge=1, le=MAX_EPOCHS)
    min_delta: float = Field(0.0, ge=0, le=1e6)
    monitor: Literal["val_loss", "test_loss", "train_loss"] = "test_loss"
    restore_best: bool = False


class TrainingConfig(Strict):
    """How long and in which batches to train."""

    epochs: int = Field(200, ge=1, le=MAX_EPOCHS)
    batch_size: Literal["full"] | Annotated[int, Field(ge=1, le=MAX_SAMPLES)] = 10
    shuffle: bool = True
    early_stopping: EarlyStopping | None = None
    clip_grad_norm: float | None = Field(
        None,
        gt=0,
        le=1e6,
        description="before each step scale the gradients so their total 2-norm is at most this "
        "(torch.nn.utils.clip_grad_norm_); None: no clipping",
    )


class TelemetryConfig(Strict):
    """What each EpochRecord carries besides the scalars."""

    every: int | None = Field(
        None,
        ge=1,
        le=MAX_EPOCHS,
        description="heavy telemetry every n epochs (and the first and last); "
        "default about 200 per run: every max(1, epochs // 200)",
    )
    histograms: bool = True
    bins: int = Field(30, ge=5, le=100)
    activations: bool = True
    probe_size: int = Field(256, ge=8, le=2048)
    boundary: bool = True
    grid_size: int = Field(50, ge=10, le=200)
    neurons: bool = True
    max_neurons: int = Field(64, ge=0, le=256, description="neuron thumbnails only for nets this small")
    neuron_grid_size: int = Field(10, ge=4, le=100, description="thumbnails sample the boundary grid")
    weights: bool = True
    feature_maps: bool = Field(True, description="conv nets: every image-shaped layer output on one sample")
    max_weights: int = Field(4096, ge=0, le=65536, description="full weights only for layers this small")


class RunConfig(Strict):
    """Everything that defines a run; the same config and seed give the same numbers."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: Annotated[Spec, Named("loss", also=("auto",))] = Field(
        "auto",
        description='a registered loss: its name or {"name": ..., **params}, e.g. {"name": "huber", '
        '"delta": 0.5}; "auto": mse for regression, bce_with_logits for 2 classes, else cross_entropy',
    )
    optimizer: OptimizerConfig = Field(default_factory=SGD)
    schedule: ScheduleConfig = Field(default_factory=ConstantLR)
    regularization: RegularizationConfig = Field(default_factory=RegularizationConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    dtype: Literal["float32", "float64"] = "float32"
    name: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _val_loss_needs_validation(self) -> RunConfig:
        early = self.training.early_stopping
        if early is not None and early.monitor == "val_loss" and self.data.validation == 0:
            raise ValueError("early_stopping.monitor 'val_loss' needs data.validation > 0")
        return self
