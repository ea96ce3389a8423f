"""The plan: a RunConfig resolved against its data once, from shapes alone (no parameter is allocated).

Each layer gets its one index (its position in the torch.nn.Sequential and in state_dict keys), its
input and output shapes, its parameter shapes and its torch equivalent; the engine's inserted layers,
the task, classes, loss, output units and a memory estimate come with it. The Trainer builds from it,
the server's limits and `POST /api/plan` read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine import initializers, losses, optimizers, schedules
from engine import layers as layer_registry
from engine.activations import Activation
from engine.config import ActivationLayer, DenseLayer, FlattenLayer, RunConfig, Spec
from engine.datasets import ArrayDataset, make_dataset, validation_split
from engine.layers import Layer
from engine.model import PREDICT_BATCH, Model
from engine.recorder import telemetry_bytes

OPTIMIZER_SCRATCH = 4
RECORD_BASELINE = 2**20


class PlanError(ValueError):
    """A config that cannot run on its data; `field` is the config path to change, e.g. ("loss",)."""

    def __init__(self, message: str, field: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.field = tuple(field)


@dataclass
class LayerPlan:
    """One layer: its index in the torch.nn.Sequential, type, options, shapes, params and torch module."""

    index: int
    type: str
    name: str | None
    class_name: str
    options: dict[str, Any]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    parameters: dict[str, tuple[int, ...]]
    buffers: dict[str, tuple[int, ...]]
    num_parameters: int
    source: int | None
    inserted: str | None
    label: str
    torch: str
    spec: dict[str, Any] = field(repr=False)
    kept: int = field(repr=False)
    scratch: int = field(repr=False)
    definition: str = field(repr=False)


@dataclass
class Plan:
    """The whole run: data facts, the layers in order, the loss and output, sizes, memory and torch code."""

    dtype: str
    task: str
    metric: str
    num_classes: int | None
    class_names: list[str] | None
    feature_names: list[str] | None
    input_shape: tuple[int, ...]
    train_samples: int
    validation_samples: int
    test_samples: int
    loss: str
    loss_options: dict[str, Any]
    output_units: int
    layers: list[LayerPlan]
    num_parameters: int
    memory: dict[str, Any]
    torch: str

    def specs(self) -> list[dict[str, Any]]:
        """One layer spec per layer, for Model.from_specs."""
        return [layer.spec for layer in self.layers]

    def summary(self) -> list[dict[str, Any]]:
        """Rows as Model.summary: index, class name, output shape and parameter count."""
        return [
            {
                "index": layer.index,
                "type": layer.class_name,
                "output_shape": list(layer.output_shape),
                "params": layer.num_parameters,
            }
            for layer in self.layers
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: shapes as lists, no build specs or per-sample internals."""
        data = asdict(self)
        for layer in data["layers"]:
            for key in ("spec", "kept", "scratch", "definition"):
                layer.pop(key)
        jsonable: dict[str, Any] = _jsonable(data)
        return jsonable


def _jsonable(value: Any) -> Any:
    """`value` with every tuple, at any depth, turned into a list."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def make_data(config: RunConfig, csv_text: str | None = None) -> ArrayDataset:
    """The dataset the config describes, drawn from data.seed (None: the run's seed)."""
    seed = config.seed if config.data.seed is None else config.data.seed
    return make_dataset(config.data, np.random.default_rng(seed), csv_text=csv_text)


def validation_samples(config: RunConfig, data: ArrayDataset) -> int:
    """How many training samples data.validation holds out (per class, as the Trainer splits them)."""
    n = len(data.x_train)
    if config.data.validation == 0 or n < 2:
        return 0
    labels = data.y_train if data.task == "classification" else None
    return len(validation_split(n, config.data.validation, np.random.default_rng(0), labels)[1])


def choose_loss(spec: Spec, task: str, num_classes: int | None) -> dict[str, Any]:
    """The loss for the data as {"name": ..., **params}: "auto" is mse, bce_with_logits (2 classes) or
    cross_entropy; a name or a spec is checked against the task and the classes."""
    if spec == "auto":
        if task == "regression":
            return {"name": "mse"}
        return {"name": "bce_with_logits" if num_classes == 2 else "cross_entropy"}
    resolved = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = resolved["name"]
    if task == "regression" and losses.LOSSES[name].task == "classification":
        raise PlanError(f"loss {name!r} is for classification; this dataset is a regression task", ("loss",))
    if losses.LOSSES[name].targets == "binary" and num_classes != 2:
        raise PlanError(
            f"loss {name!r} needs 2 classes; this dataset has {num_classes}: use cross_entropy", ("loss",)
        )
    return resolved


def output_units(task: str, loss: str, num_classes: int | None, target_shape: tuple[int, ...]) -> int:
    """Units of the output layer: the target's width, 1 for a binary loss, else one per class."""
    if task == "regression":
        return int(np.prod(target_shape, dtype=int)) or 1
    targets = losses.LOSSES[loss].targets
    if targets == "binary" or num_classes == 2 and targets != "indices":
        return 1
    if num_classes is None:
        raise PlanError("a classification dataset needs its number of classes", ("data",))
    return num_classes


def _config_specs(config: RunConfig) -> list[tuple[int, dict[str, Any]]]:
    specs = [layer.model_dump(exclude_none=True) for layer in config.model.layers]
    return Model.layer_specs(specs)


def _inserted_specs(
    config: RunConfig, shape: tuple[int, ...], units: int, loss: str
) -> list[tuple[str, dict[str, Any]]]:
    if not config.model.output:
        return []
    inserted = []
    if len(shape) > 1:
        inserted.append(("flatten before the output", FlattenLayer().model_dump()))
    output = DenseLayer(units=units, weight_init=config.model.output_init).model_dump(exclude_none=True)
    inserted.append(("output", output))
    activation = losses.LOSSES[loss].output_activation
    if activation is not None:
        inserted.append((f"output activation for {loss}", ActivationLayer(name=activation).model_dump()))
    return inserted


def _plan_layer(
    index: int, spec: dict[str, Any], shape: tuple[int, ...], source: int | None, inserted: str | None
) -> LayerPlan:
    where = ("model", "layers", source) if source is not None else ("model", "output")
    try:
        layer: Layer = layer_registry.get(spec)
        output_shape = tuple(layer.output_shape(shape))
        parameters = {key: tuple(s) for key, s in layer.parameter_shapes(shape).items()}
    except ValueError as error:
        raise PlanError(f"layer {index} ({spec['type']}): {error}", where) from None
    kind = type(layer).__name__
    is_activation = spec["type"] == "activation"
    options = {key: value for key, value in spec.items() if key not in ("type", "activation")}
    if isinstance(layer, Activation):
        options = layer.options()
    kept, scratch = layer.working_values(shape)
    return LayerPlan(
        index=index,
        type=spec["type"],
        name=spec["name"] if is_activation else None,
        class_name=kind,
        options=options,
        input_shape=shape,
        output_shape=output_shape,
        parameters=parameters,
        buffers={key: tuple(s) for key, s in layer.buffer_shapes(shape).items()},
        num_parameters=sum(int(np.prod(s)) for s in parameters.values()),
        source=source,
        inserted=inserted,
        label=f"{index} {kind.lower()} {'x'.join(map(str, output_shape))}",
        torch=layer.torch(shape),
        spec=spec,
        kept=kept,
        scratch=scratch,
        definition=layer.torch_definition,
    )


def _initializations(layers: list[LayerPlan]) -> list[str]:
    """nn.init calls for the parameters whose initializer is not torch's default for the module."""
    lines = []
    for layer in layers:
        for key, option in (("weight", "weight_init"), ("bias", "bias_init")):
            spec = layer.options.get(option, "default")
            if key in layer.parameters and spec != "default":
                lines.append(initializers.get(spec).torch(f"model[{layer.index}].{key}"))
    return lines


def _torch_code(layers: list[LayerPlan], config: RunConfig, loss: losses.Loss) -> str:
    """The torch.nn.Sequential, its non-default initializations, loss, optimizer and lr scheduler."""
    definitions = []
    for layer in layers:
        if layer.definition and not layer.torch.startswith("nn.") and layer.definition not in definitions:
            definitions.append(layer.definition)
    body = "\n".join(f"    {layer.torch},  # {layer.index}" for layer in layers)
    helpers = "".join(f"\n\n{definition}" for definition in definitions)
    initialized = "".join(f"\n    {line}" for line in _initializations(layers))
    training = (
        f"loss_fn = {loss.torch()}\n"
        f"optimizer = {optimizers.get(config.optimizer.model_dump()).torch()}\n"
        f"scheduler = {schedules.get(config.schedule.model_dump()).torch()}  # step after each epoch\n"
    )
    clip = config.training.clip_grad_norm
    if clip is not None:
        clipping = "torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)"
        training += f"clip_grad_norm = {clip!r}  # after each loss.backward(): {clipping}\n"
    return (
        f"import torch\nfrom torch import nn\n{helpers}\n\n"
        f"model = nn.Sequential(\n{body}\n).to(torch.{config.dtype})\n"
        + (f"with torch.no_grad():{initialized}\n" if initialized else "")
        + training
    )


def run_torch(code: str, **names: Any) -> dict[str, Any]:
    """Run torch code (the plan's, or a component's `torch` expression assigned to a name) with `names`.

    Returns the namespace it leaves: e.g. model, loss_fn, optimizer and scheduler for the plan. Needs torch.
    """
    import torch

    namespace: dict[str, Any] = {"torch": torch, "nn": torch.nn, **names}
    exec(code, namespace)
    return namespace


def plan(
    config: RunConfig | dict[str, Any], data: ArrayDataset | None = None, csv_text: str | None = None
) -> Plan:
    """Resolve `config` against its data (made from the config when None) without allocating parameters."""
    config = config if isinstance(config, RunConfig) else RunConfig.model_validate(config)
    if data is None:
        data = make_data(config, csv_text)
    task = data.task
    assert task is not None, "ArrayDataset infers its task when built"
    loss_spec = choose_loss(config.loss, task, data.num_classes)
    loss, chosen = loss_spec["name"], losses.get(loss_spec)
    units = output_units(task, loss, data.num_classes, np.shape(data.y_train)[1:])
    shape = tuple(int(d) for d in data.input_shape)
    layers: list[LayerPlan] = []
    for source, spec in _config_specs(config):
        layers.append(_plan_layer(len(layers), spec, shape, source, None))
        shape = layers[-1].output_shape
    for reason, spec in _inserted_specs(config, shape, units, loss):
        layers.append(_plan_layer(len(layers), spec, shape, None, reason))
        shape = layers[-1].output_shape
    if shape != (units,):
        raise PlanError(
            f"the model's output has shape {shape}, but loss {loss!r} on this data needs {(units,)}",
            ("model", "layers"),
        )
    held_out = validation_samples(config, data)
    train_samples = len(data.x_train) - held_out
    batchnorm = any(layer.type == "batchnorm" for layer in layers)
    if batchnorm and (config.training.batch_size == 1 or train_samples < 2):
        raise PlanError(
            "batchnorm needs batches of at least 2 samples: use batch_size > 1", ("training", "batch_size")
        )
    result = Plan(
        dtype=config.dtype,
        task=task,
        metric="r2" if task == "regression" else "accuracy",
        num_classes=data.num_classes,
        class_names=data.class_names,
        feature_names=data.feature_names,
        input_shape=tuple(int(d) for d in data.input_shape),
        train_samples=train_samples,
        validation_samples=held_out,
        test_samples=len(data.x_test),
        loss=loss,
        loss_options=chosen.options(),
        output_units=units,
        layers=layers,
        num_parameters=sum(layer.num_parameters for layer in layers),
        memory={},
        torch=_torch_code(layers, config, chosen),
    )
    result.memory = memory(config, result, data)
    return result


MEMORY_FIELDS = {
    "model": ("model", "layers"),
    "data": ("data", "n_samples"),
    "training_batch": ("training", "batch_size"),
    "evaluation": ("data", "n_samples"),
    "probe": ("telemetry", "probe_size"),
    "grid": ("telemetry", "grid_size"),
    "telemetry": ("telemetry",),
}


def _held_values(layers: list[LayerPlan], input_values: int) -> int:
    """Values per sample a forward pass holds until backward: the input, every output, what layers keep."""
    return input_values + sum(int(np.prod(layer.output_shape)) + layer.kept for layer in layers)


def _forward_values(layers: list[LayerPlan], input_values: int) -> int:
    """A forward pass and the largest scratch of one layer."""
    return _held_values(layers, input_values) + max((layer.scratch for layer in layers), default=0)


def _training_values(layers: list[LayerPlan], input_values: int) -> int:
    """A forward pass and the widest backward step: gradients in and out and that layer's scratch."""
    steps = (np.prod(layer.input_shape) + np.prod(layer.output_shape) + layer.scratch for layer in layers)
    return _held_values(layers, input_values) + int(max(steps, default=0))


def memory(config: RunConfig, planned: Plan, data: ArrayDataset) -> dict[str, Any]:
    """Bytes a run needs at its peak, by part, and the part whose config field to change first.

    Parameters, buffers, gradients, the optimizer's state and working vectors, the parameter copy of
    a heavy epoch (and the best weights for restore_best), the data (float64 and in the run's dtype,
    plus the shuffled copy), one heavy telemetry record, one training batch (its buffers stay between
    batches), and the largest of: the evaluation pass (PREDICT_BATCH samples at a time), the telemetry
    probe, the boundary grid (grid_size^2 points).
    """
    itemsize = np.dtype(config.dtype).itemsize
    layers = planned.layers
    count = planned.num_parameters
    buffers = sum(int(np.prod(s)) for layer in layers for s in layer.buffers.values())
    slots = len(optimizers.get(config.optimizer.model_dump()).slots())
    early = config.training.early_stopping
    copies = 1 + (1 if early is not None and early.restore_best else 0)
    model_values = count * (2 + slots + OPTIMIZER_SCRATCH + copies) + buffers * (1 + copies)
    input_values = int(np.prod(planned.input_shape))
    n_train, n_test = planned.train_samples + planned.validation_samples, planned.test_samples
    target_values = int(np.prod(np.shape(data.y_train)[1:], dtype=int))
    data_bytes = (n_train + n_test) * (input_values + target_values) * 8
    data_bytes += (2 * n_train + n_test) * (input_values * itemsize + planned.output_units * 8)
    batch_size = config.training.batch_size
    batch = planned.train_samples if batch_size == "full" else min(int(batch_size), planned.train_samples)
    evaluation = min(max(n_train, n_test), PREDICT_BATCH)
    telemetry = config.telemetry
    probe = min(telemetry.probe_size, n_train) if telemetry.activations else 0
    plane = data.domain is not None and data.feature_names and (telemetry.boundary or telemetry.neurons)
    points = telemetry.grid_size**2 if plane else 0
    parts = {
        "model": model_values * itemsize,
        "telemetry": RECORD_BASELINE + telemetry_bytes(telemetry, planned, data),
        "data": data_bytes,
        "training_batch": batch * _training_values(layers, input_values) * itemsize,
        "evaluation": evaluation * _forward_values(layers, input_values) * itemsize,
        "probe": probe * _forward_values(layers, input_values) * itemsize,
        "grid": points * (_forward_values(layers, input_values) * itemsize + 2 * 8),
    }
    peak_pass = max(("evaluation", "probe", "grid"), key=lambda part: parts[part])
    held = ("model", "data", "telemetry", "training_batch", peak_pass)
    total = sum(parts[part] for part in held)
    largest = max(held, key=lambda part: parts[part])
    return {
        "bytes": total,
        "parts": parts,
        "largest": largest,
        "field": list(MEMORY_FIELDS[largest]),
        "batch_size": batch,
    }
