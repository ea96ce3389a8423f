"""Trainer: builds data, model, loss and optimizer from a RunConfig and yields one EpochRecord per epoch."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, KeysView
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from engine import checkpoint, losses, optimizers, penalties, schedules
from engine.config import RunConfig
from engine.datasets import ArrayDataset, validation_split
from engine.layers import Dense
from engine.model import Model
from engine.plan import make_data, plan
from engine.recorder import HEAVY_FIELDS, Recorder, light_fields
from engine.schema import Shared

Status = Literal["running", "completed", "stopped", "diverged"]
MAX_EDITED_WEIGHT = 1000.0
CLIP_EPS = 1e-6
LIVE_LR = Shared(optimizers.OPTIMIZERS, "lr")


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """torch's clip_grad_norm_ in place: g *= min(1, max_norm / (total + 1e-6)), total = ||(||g_1||, ...)||_2.

    Returns the total norm before clipping, in the gradients' dtype as torch computes it.
    """
    dtype = grads[0].dtype.type
    total = dtype(np.linalg.norm(np.array([np.linalg.norm(g.ravel()) for g in grads], dtype=dtype)))
    coefficient = dtype(max_norm) / (total + dtype(CLIP_EPS))
    if not coefficient >= 1:
        for g in grads:
            g *= coefficient
    return float(total)


class EpochRecord(BaseModel):
    """What one epoch of training produced: scalars always, heavy telemetry when asked.

    The heavy fields are those declared in `engine.recorder.HEAVY_FIELDS` (HEAVY_FIELDS here is a live
    view of their names): each record carries every one of them, None when the epoch went without.
    """

    model_config = ConfigDict(extra="allow")

    HEAVY_FIELDS: ClassVar[KeysView[str]] = HEAVY_FIELDS.keys()

    epoch: int
    lr: float
    train_loss: float | None
    test_loss: float | None
    train_metric: float | None
    test_metric: float | None
    metric: Literal["accuracy", "r2"]
    val_loss: float | None = None
    val_metric: float | None = None
    penalty: float | None
    wall_time: float
    elapsed: float
    t_end: float
    status: Status
    message: str | None = None
    heavy: bool = False

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...

    @model_validator(mode="before")
    @classmethod
    def _every_heavy_field(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        unknown = sorted(data.keys() - cls.model_fields.keys() - HEAVY_FIELDS.keys())
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise ValueError(f"EpochRecord has no field {names}: neither a scalar nor in HEAVY_FIELDS")
        return {**light_fields(), **data}

    def scalars(self) -> dict[str, Any]:
        """The record as JSON-ready values without its heavy fields."""
        return self.model_dump(mode="json", exclude=set(self.HEAVY_FIELDS))


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


class Trainer:
    """Train a model on a dataset, one epoch per step of `epochs()`; control between epochs."""

    def __init__(
        self, config: RunConfig | dict, data: ArrayDataset | None = None, csv_text: str | None = None
    ):
        self.config = config if isinstance(config, RunConfig) else RunConfig.model_validate(config)
        cfg = self.config
        self.dtype = np.dtype(cfg.dtype)
        model_rng, self._shuffle_rng = (np.random.default_rng((cfg.seed, k)) for k in (1, 2))
        if data is None:
            data = make_data(cfg, csv_text)
        self.dataset = data
        self.plan = plan(cfg, data)
        self.task = self.plan.task
        self.loss_name = self.plan.loss
        self.loss = losses.get({"name": self.loss_name, **self.plan.loss_options})
        with np.errstate(over="ignore"):
            self.x_train = np.ascontiguousarray(data.x_train, dtype=self.dtype)
            self.x_test = np.ascontiguousarray(data.x_test, dtype=self.dtype)
        self.y_train = self._targets(data.y_train)
        self.y_test = self._targets(data.y_test)
        self.x_val, self.y_val = self._hold_out_validation(cfg.data.validation, data)
        for name, x in (("x_train", self.x_train), ("x_test", self.x_test)):
            if not np.isfinite(x).all():
                raise ValueError(f"data.{name} has values too large for {cfg.dtype}")
        self._references = [self._reference(y) for y in (self.y_train, self.y_test, self.y_val)]
        self.input_shape = self.x_train.shape[1:]
        self.model = self._build_model(model_rng)
        self._model_rng = model_rng
        self._has_batchnorm = any(layer.type == "batchnorm" for layer in self.plan.layers)
        self.optimizer = optimizers.get(cfg.optimizer.model_dump())
        self.schedule = schedules.get(cfg.schedule.model_dump())
        self.base_lr = cfg.optimizer.lr
        self.penalty = penalties.get(cfg.regularization.penalty)
        self.regularization_rate = cfg.regularization.rate
        self.status: Status = "running"
        self.message: str | None = None
        self._stop_reason: str | None = None
        self.epoch = 0
        self.early_state: tuple[float, int, dict | None] = (float("inf"), 0, None)
        probe = cfg.telemetry.probe_size
        self.recorder = Recorder(
            cfg.telemetry,
            cfg.training.epochs,
            self.model,
            self.loss,
            self.task,
            data,
            self.x_train[:probe],
            self.y_train[:probe],
            [layer.label for layer in self.plan.layers],
        )
        self.last_record: EpochRecord | None = None
        self.probe_trace: list[np.ndarray] | None = None

    def _hold_out_validation(self, fraction: float, data: ArrayDataset) -> tuple[np.ndarray, np.ndarray]:
        """Move a fraction of the training samples (per class) to a validation set; return it."""
        if fraction == 0:
            return self.x_train[:0], self.y_train[:0]
        if len(self.x_train) < 2:
            raise ValueError("data.validation needs at least 2 training samples")
        labels = data.y_train if self.task == "classification" else None
        data_seed = self.config.data.seed
        rng = np.random.default_rng((self.config.seed if data_seed is None else data_seed, 3))
        kept, held = validation_split(len(self.x_train), fraction, rng, labels)
        x_val, y_val = self.x_train[held], self.y_train[held]
        self.x_train, self.y_train = self.x_train[kept], self.y_train[kept]
        return x_val, y_val

    @property
    def num_parameters(self) -> int:
        return self.model.num_parameters

    @property
    def output_units(self) -> int:
        return self.plan.output_units

    def _targets(self, y: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return np.asarray(y, dtype=self.dtype).reshape(len(y), -1)
        labels = np.asarray(y).astype(np.int64)
        if self.loss.targets == "indices":
            return labels
        if self.output_units == 1:
            return labels.reshape(-1, 1).astype(self.dtype)
        return np.eye(self.output_units, dtype=self.dtype)[labels]

    def _build_model(self, rng: np.random.Generator) -> Model:
        return Model.from_specs(self.plan.specs(), self.plan.input_shape).build(rng, self.dtype)

    def set_lr(self, lr: float) -> None:
        """Set the base lr from the next epoch on: a number every registered optimizer's lr bounds accept."""
        try:
            self.base_lr = LIVE_LR.validate(lr)
        except ValidationError as error:
            raise ValueError(f"lr: {error.errors()[0]['msg']}, got {lr!r}") from None

    def set_regularization_rate(self, rate: float) -> None:
        if not (np.isfinite(rate) and 0 <= rate <= 10):
            raise ValueError("regularization rate must be a number in [0, 10]")
        self.regularization_rate = float(rate)

    def set_weight(self, layer: int, from_unit: int, to_unit: int, value: float) -> None:
        """Set one weight of a dense layer: weight[to_unit, from_unit] (torch's (out, in) layout)."""
        dense = [index for index, module in enumerate(self.model.layers) if isinstance(module, Dense)]
        if layer not in dense:
            raise ValueError(f"weight.layer: {layer} is not a dense layer; the dense layers are {dense}")
        weight = self.model.layers[layer].params["weight"]
        out_units, in_units = weight.shape
        if not 0 <= to_unit < out_units:
            raise ValueError(f"weight.to_unit: {to_unit} is not a unit of layer {layer} (0-{out_units - 1})")
        if not 0 <= from_unit < in_units:
            raise ValueError(f"weight.from_unit: {from_unit} is no input of layer {layer} (0-{in_units - 1})")
        if not (np.isfinite(value) and abs(value) <= MAX_EDITED_WEIGHT):
            raise ValueError(f"weight.value must be a number within ±{MAX_EDITED_WEIGHT:g}")
        weight[to_unit, from_unit] = value

    def initial_record(self) -> EpochRecord:
        """Epoch 0: the untrained model's losses and heavy telemetry; changes nothing later epochs see."""
        with np.errstate(all="ignore"):
            (train_loss, train_metric), (test_loss, test_metric), _ = self._scores(trace_probe=True)
            fields = self.recorder.fields(None, self.probe_trace)
        return EpochRecord.model_construct(
            epoch=0,
            lr=self.schedule.lr_at(0, self.base_lr),
            train_loss=_finite_or_none(train_loss),
            test_loss=_finite_or_none(test_loss),
            train_metric=_finite_or_none(train_metric),
            test_metric=_finite_or_none(test_metric),
            metric="r2" if self.task == "regression" else "accuracy",
            penalty=_finite_or_none(self.penalty_value()),
            wall_time=0.0,
            elapsed=0.0,
            t_end=time.time(),
            status="running",
            **fields,
        )

    def stop(self, reason: str = "stopped by the user") -> None:
        self._stop_reason = reason

    def state(self) -> dict[str, Any]:
        """Everything later epochs depend on, at an epoch boundary (see engine.checkpoint)."""
        return checkpoint.capture(self)

    def load_state(self, state: dict[str, Any] | bytes) -> None:
        """Continue from `state()` (or its `checkpoint.to_bytes` form) as if never interrupted."""
        checkpoint.apply(self, checkpoint.from_bytes(state) if isinstance(state, bytes) else state)

    @classmethod
    def restore(
        cls,
        config: RunConfig | dict,
        state: dict[str, Any] | bytes,
        data: ArrayDataset | None = None,
        csv_text: str | None = None,
    ) -> Trainer:
        """A Trainer for `config` continuing from `state`."""
        trainer = cls(config, data, csv_text)
        trainer.load_state(state)
        return trainer

    def evaluate(
        self, x: np.ndarray, y: np.ndarray, reference: Any = None, output: np.ndarray | None = None
    ) -> tuple[float, float]:
        """(loss, accuracy or R^2) of the model in eval mode on (x, y); `reference` is `_reference(y)`."""
        if len(x) == 0:
            return float("nan"), float("nan")
        if output is None:
            output = self.model.outputs(x)
        loss = float(self.loss.forward(output, y))
        if reference is None:
            reference = self._reference(y)
        if self.task == "regression":
            residual = float(np.sum((y - output) ** 2, dtype=np.float64))
            return loss, 1.0 - residual / reference if reference > 0 else float("nan")
        return loss, float(np.mean(self._classes(output) == reference))

    def _scores(self, trace_probe: bool = False) -> list[tuple[float, float]]:
        """(loss, metric) on the training, test and validation sets.

        The training set's first rows, the telemetry probe, are a batch of their own; with `trace_probe`
        they run layer by layer (the same bits) and `probe_trace` keeps every layer's output for the record.
        """
        probe, rest = self.x_train[: len(self.recorder.probe)], self.x_train[len(self.recorder.probe) :]
        self.probe_trace = self.model.trace(probe) if trace_probe else None
        head = self.probe_trace[-1] if self.probe_trace is not None else self.model.outputs(probe)
        output = np.concatenate([head, self.model.outputs(rest)]) if len(rest) else head
        train, test, val = self._references
        return [
            self.evaluate(self.x_train, self.y_train, train, output),
            self.evaluate(self.x_test, self.y_test, test),
            self.evaluate(self.x_val, self.y_val, val),
        ]

    def _reference(self, y: np.ndarray) -> Any:
        """What the metric compares outputs with: the class labels, or the total sum of squares of y."""
        if self.task == "regression":
            return float(np.sum((y - y.mean(axis=0)) ** 2, dtype=np.float64)) if len(y) else 0.0
        return self._labels(y)

    def _classes(self, output: np.ndarray) -> np.ndarray:
        if output.shape[1] == 1:
            return (self.loss.output(output)[:, 0] > 0.5).astype(np.int64)
        return np.argmax(output, axis=1)

    def _labels(self, y: np.ndarray) -> np.ndarray:
        if y.ndim == 1:
            return y
        return (y[:, 0] > 0.5).astype(np.int64) if y.shape[1] == 1 else np.argmax(y, axis=1)

    def penalty_value(self) -> float:
        if self.regularization_rate == 0:
            return 0.0
        weights = [layer.params[key] for layer, key in self.model.regularized_weights()]
        return float(self.penalty.value(weights, self.regularization_rate))

    @property
    def heavy_every(self) -> int:
        """Heavy telemetry is scheduled every `telemetry.every` epochs, by default max(1, epochs // 200)."""
        return self.recorder.every

    def request_heavy(self) -> None:
        """Give the next epoch's record heavy telemetry, whatever the schedule."""
        self.recorder.request()

    def heavy_record(self) -> EpochRecord | None:
        """The newest epoch's record with heavy telemetry, computed now on the model if it had none."""
        record = self.last_record
        if record is None or record.heavy or self.status == "diverged":
            return record
        with np.errstate(all="ignore"):
            self.last_record = record.model_copy(update=self.recorder.fields(None))
        return self.last_record

    def epochs(self, heavy: Callable[[int], bool] | None = None) -> Iterator[EpochRecord]:
        """Train epoch by epoch, yielding a record after each; ends completed, stopped or diverged.

        Heavy telemetry on the schedule (`heavy_every`, the first and the last epoch), after
        `request_heavy()`, and on the epochs for which `heavy(epoch)` is true; never changes the training.
        """
        cfg = self.config
        started = time.perf_counter()
        early = cfg.training.early_stopping
        best, best_epoch, best_state = self.early_state
        with np.errstate(all="ignore"):
            while self.epoch < cfg.training.epochs:
                if self._stop_reason is not None:
                    self.status, self.message = "stopped", self._stop_reason
                    return
                self.epoch += 1
                epoch_start = time.perf_counter()
                lr = self.schedule.lr_at(self.epoch - 1, self.base_lr)
                self.optimizer.lr = lr
                is_heavy = self.recorder.due(self.epoch) or (heavy is not None and heavy(self.epoch))
                before = self._train_one_epoch(keep_last_update=is_heavy)
                scores = self._scores(trace_probe=is_heavy)
                (train_loss, train_metric), (test_loss, test_metric), (val_loss, val_metric) = scores
                penalty = self.penalty_value()
                problem = self._divergence(train_loss)
                if problem:
                    self.status, self.message = "diverged", f"diverged at epoch {self.epoch}: {problem}"
                elif self.epoch == cfg.training.epochs:
                    self.status, self.message = "completed", None
                if early and self.status == "running":
                    monitored = {"val_loss": val_loss, "test_loss": test_loss}.get(early.monitor, train_loss)
                    if early.monitor == "test_loss" and not len(self.x_test):
                        monitored = train_loss
                    if monitored < best - early.min_delta:
                        best, best_epoch = monitored, self.epoch
                        best_state = self.model.state_dict() if early.restore_best else None
                    elif self.epoch - best_epoch >= early.patience:
                        self.status = "completed"
                        self.message = (
                            f"early stopping at epoch {self.epoch}: {early.monitor} has not improved "
                            f"for {early.patience} epochs (best {best:.4g} at epoch {best_epoch})"
                        )
                        if best_state is not None:
                            self.model.load_state_dict(best_state)
                            self.message += f"; restored the weights of epoch {best_epoch}"
                            scores = self._scores(trace_probe=is_heavy)
                            (train_loss, train_metric), (test_loss, test_metric), val = scores
                            val_loss, val_metric = val
                            penalty = self.penalty_value()
                full = (is_heavy or self.status != "running") and not problem
                fields = self.recorder.fields(before, self.probe_trace) if full else light_fields()
                now = time.perf_counter()
                record = EpochRecord.model_construct(
                    epoch=self.epoch,
                    lr=lr,
                    train_loss=_finite_or_none(train_loss),
                    test_loss=_finite_or_none(test_loss),
                    train_metric=_finite_or_none(train_metric),
                    test_metric=_finite_or_none(test_metric),
                    metric="r2" if self.task == "regression" else "accuracy",
                    val_loss=_finite_or_none(val_loss) if len(self.x_val) else None,
                    val_metric=_finite_or_none(val_metric) if len(self.x_val) else None,
                    penalty=_finite_or_none(penalty),
                    wall_time=now - epoch_start,
                    elapsed=now - started,
                    t_end=time.time(),
                    status=self.status,
                    message=self.message,
                    **fields,
                )
                self.early_state = best, best_epoch, best_state
                self.last_record = record
                yield record
                if self.status != "running":
                    return

    def _train_one_epoch(self, keep_last_update: bool) -> list[np.ndarray] | None:
        n = len(self.x_train)
        size = (
            n if self.config.training.batch_size == "full" else min(int(self.config.training.batch_size), n)
        )
        if self.config.training.shuffle:
            order = self._shuffle_rng.permutation(n)
            x, y = self.x_train[order], self.y_train[order]
        else:
            x, y = self.x_train, self.y_train
        model, loss, optimizer = self.model, self.loss, self.optimizer
        params, grads = model.parameters(), model.gradients()
        regularized = self.model.regularized_weights() if self.regularization_rate > 0 else []
        clip = self.config.training.clip_grad_norm
        before = None
        starts = range(0, n - 1 if self._has_batchnorm and n % size == 1 else n, size)
        last = starts[-1]
        for start in starts:
            xb, yb = x[start : start + size], y[start : start + size]
            model.backward(loss.gradient(model.forward(xb, True), yb), input_grad=False)
            for layer, key in regularized:
                layer.grads[key] += self.penalty.grad(layer.params[key], self.regularization_rate)
            if clip is not None:
                clip_grad_norm(grads, clip)
            if keep_last_update and start == last:
                before = [p.copy() for p in params]
            optimizer.step(params, grads)
        return before

    def _divergence(self, train_loss: float) -> str | None:
        if self.model.parameters_finite() and np.isfinite(train_loss):
            return None
        for index, layer in enumerate(self.model.layers):
            for key, value in layer.params.items():
                if not np.all(np.isfinite(value)):
                    return (
                        f"layer {index} ({type(layer).__name__}) {key} has non-finite values; "
                        "the learning rate is probably too high"
                    )
        if not np.isfinite(train_loss):
            return "the training loss is not a finite number; the learning rate is probably too high"
        return None
