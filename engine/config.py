"""RunConfig: one strict schema for the browser, the REST API, the CLI and Python."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_LAYERS = 32
MAX_UNITS = 1024
MAX_FILTERS = 128
MAX_EPOCHS = 10_000
MAX_SAMPLES = 20_000

DatasetName = Literal[
    "circle", "xor", "gauss", "spiral", "plane", "multi_gauss", "blobs", "moons", "digits", "csv"
]
FeatureName = Literal["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"]
LossName = Literal["auto", "mse", "mae", "smooth_l1", "huber", "bce", "bce_with_logits", "cross_entropy"]
Spec = str | dict[str, Any]
_TWO_FEATURES: list[FeatureName] = ["x1", "x2"]


class Strict(BaseModel):
    """No unknown fields and no conversions: "8", true or 8.0 for an integer is an error; 1 is a float."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True, strict=True)


def _check_spec(family: str, spec: Spec) -> Spec:
    from engine import activations, initializers

    registry = {"activation": activations, "initializer": initializers}[family]
    registry.get(spec)
    return spec


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


class _Initialized(Strict):
    weight_init: Spec = "default"
    bias_init: Spec = "default"

    @field_validator("weight_init", "bias_init")
    @classmethod
    def _known_init(cls, spec: Spec) -> Spec:
        return _check_spec("initializer", spec)


class _BiasAndActivation(_Initialized):
    bias: bool = True
    activation: Spec | None = None

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, spec: Spec | None) -> Spec | None:
        return None if spec is None else _check_spec("activation", spec)


class DenseLayer(_BiasAndActivation):
    """Fully connected: y = x W^T + b."""

    type: Literal["dense"] = "dense"
    units: int = Field(8, ge=1, le=MAX_UNITS)


class ActivationLayer(Strict):
    """An activation function as its own layer."""

    type: Literal["activation"] = "activation"
    name: str = "relu"
    params: dict[str, float | str | bool] = Field(default_factory=dict, max_length=8)

    @model_validator(mode="after")
    def _known(self) -> ActivationLayer:
        _check_spec("activation", {"name": self.name, **self.params})
        return self


class DropoutLayer(Strict):
    """Inverted dropout: zero each input with probability p, scale the rest by 1/(1-p)."""

    type: Literal["dropout"] = "dropout"
    p: float = Field(0.5, ge=0, lt=1)


class BatchNormLayer(Strict):
    """Batch normalization over the channel axis."""

    type: Literal["batchnorm"] = "batchnorm"
    momentum: float = Field(0.1, gt=0, le=1)
    eps: float = Field(1e-5, gt=0, le=1)


class Conv2dLayer(_BiasAndActivation):
    """2-D convolution over (channels, height, width) images."""

    type: Literal["conv2d"] = "conv2d"
    filters: int = Field(8, ge=1, le=MAX_FILTERS)
    kernel_size: int = Field(3, ge=1, le=11)
    stride: int = Field(1, ge=1, le=8)
    padding: int = Field(0, ge=0, le=5)


class MaxPool2dLayer(Strict):
    """Max over kernel_size x kernel_size windows."""

    type: Literal["maxpool2d"] = "maxpool2d"
    kernel_size: int = Field(2, ge=1, le=8)
    stride: int | None = Field(None, ge=1, le=8)


class AvgPool2dLayer(Strict):
    """Mean over kernel_size x kernel_size windows."""

    type: Literal["avgpool2d"] = "avgpool2d"
    kernel_size: int = Field(2, ge=1, le=8)
    stride: int | None = Field(None, ge=1, le=8)


class FlattenLayer(Strict):
    """(batch, C, H, W) -> (batch, C*H*W)."""

    type: Literal["flatten"] = "flatten"


class MaxoutLayer(_Initialized):
    """Maxout: the max of `pieces` linear maps per unit."""

    type: Literal["maxout"] = "maxout"
    units: int = Field(8, ge=1, le=MAX_UNITS)
    pieces: int = Field(2, ge=2, le=8)


LayerConfig = Annotated[
    DenseLayer
    | ActivationLayer
    | DropoutLayer
    | BatchNormLayer
    | Conv2dLayer
    | MaxPool2dLayer
    | AvgPool2dLayer
    | FlattenLayer
    | MaxoutLayer,
    Field(discriminator="type"),
]


def _default_layers() -> list[Any]:
    return [DenseLayer(units=4, activation="tanh"), DenseLayer(units=2, activation="tanh")]


class ModelConfig(Strict):
    """The layer stack; with output=True an output dense layer sized to the problem is appended."""

    layers: list[LayerConfig] = Field(default_factory=_default_layers, max_length=MAX_LAYERS)
    output: bool = True
    output_init: Spec = "default"

    @field_validator("output_init")
    @classmethod
    def _known_init(cls, spec: Spec) -> Spec:
        return _check_spec("initializer", spec)


class SGD(Strict):
    """Stochastic gradient descent with optional (Nesterov) momentum."""

    name: Literal["sgd"] = "sgd"
    lr: float = Field(0.03, gt=0, le=10)
    momentum: float = Field(0.0, ge=0, lt=1)
    dampening: float = Field(0.0, ge=0, le=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGD:
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0")
        return self


class Adagrad(Strict):
    """AdaGrad: per-parameter steps shrink with the sum of squared gradients."""

    name: Literal["adagrad"] = "adagrad"
    lr: float = Field(0.01, gt=0, le=10)
    lr_decay: float = Field(0.0, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    initial_accumulator_value: float = Field(0.0, ge=0, le=10)
    eps: float = Field(1e-10, gt=0, le=1)


class RMSprop(Strict):
    """RMSProp: steps scaled by a running mean of squared gradients."""

    name: Literal["rmsprop"] = "rmsprop"
    lr: float = Field(0.01, gt=0, le=10)
    alpha: float = Field(0.99, gt=0, lt=1)
    eps: float = Field(1e-8, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    momentum: float = Field(0.0, ge=0, lt=1)
    centered: bool = False


Beta = Annotated[float, Field(ge=0, lt=1, strict=True)]


class Adam(Strict):
    """Adam: bias-corrected first and second moment estimates."""

    name: Literal["adam"] = "adam"
    lr: float = Field(0.001, gt=0, le=10)
    betas: tuple[Beta, Beta] = Field((0.9, 0.999), strict=False, description="two numbers (a JSON array)")
    eps: float = Field(1e-8, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    amsgrad: bool = False


class AdamW(Adam):
    """Adam with decoupled weight decay."""

    name: Literal["adamw"] = "adamw"  # type: ignore[assignment]
    weight_decay: float = Field(0.01, ge=0, le=1)


OptimizerConfig = Annotated[SGD | Adagrad | RMSprop | Adam | AdamW, Field(discriminator="name")]


class ConstantLR(Strict):
    """lr stays at its base value."""

    name: Literal["constant"] = "constant"


class StepLR(Strict):
    """lr = base * gamma ** (epoch // step_size)."""

    name: Literal["step"] = "step"
    step_size: int = Field(30, ge=1, le=MAX_EPOCHS)
    gamma: float = Field(0.1, gt=0, le=1)


class MultiStepLR(Strict):
    """lr = base * gamma ** (number of milestones <= epoch)."""

    name: Literal["multistep"] = "multistep"
    milestones: list[Annotated[int, Field(ge=1, le=MAX_EPOCHS)]] = Field(
        default_factory=lambda: [50, 100], min_length=1, max_length=32
    )
    gamma: float = Field(0.1, gt=0, le=1)

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: list[int]) -> list[int]:
        if any(b <= a for a, b in zip(milestones, milestones[1:], strict=False)):
            raise ValueError("milestones must be strictly increasing")
        return milestones


class ExponentialLR(Strict):
    """lr = base * gamma ** epoch."""

    name: Literal["exponential"] = "exponential"
    gamma: float = Field(0.99, gt=0, le=1)


class CosineLR(Strict):
    """lr = eta_min + (base - eta_min) * (1 + cos(pi * epoch / t_max)) / 2."""

    name: Literal["cosine"] = "cosine"
    t_max: int = Field(100, ge=1, le=MAX_EPOCHS)
    eta_min: float = Field(0.0, ge=0, le=10)


ScheduleConfig = Annotated[
    ConstantLR | StepLR | MultiStepLR | ExponentialLR | CosineLR, Field(discriminator="name")
]


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
    loss: LossName = "auto"
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
