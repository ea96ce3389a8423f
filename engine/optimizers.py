"""Optimizers: PyTorch's single-tensor update rules on NumPy arrays, applied in place.

Each optimizer declares its config schema (`Config`, e.g. SGDConfig) beside its class and checks its
hyperparameters with it; its torch equivalent is derived from its signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from operator import is_
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from engine.registry import lookup, real
from engine.schema import Strict, validated

SMALL = 4096


class Scalar(dict[np.dtype, np.ndarray]):
    """A float as a 0-d array per dtype: numpy takes those faster than Python numbers, to the same bits."""

    def __init__(self, value: float = 0.0):
        super().__init__()
        self.value = value

    def __missing__(self, dtype: np.dtype) -> np.ndarray:
        array = self[dtype] = np.full((), self.value, dtype)
        return array

    def set(self, value: float) -> Scalar:
        """Hold `value` from now on (every dtype's array refilled in place)."""
        self.value = value
        for array in self.values():
            array[()] = value
        return self


def _flat_span(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The contiguous vector that `arrays` tile in order as views of it (a model's flat storage), or None."""
    base = arrays[0].base
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    pointer = start = arrays[0].ctypes.data
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or a.ctypes.data != pointer:
            return None
        pointer += a.nbytes
    offset = (start - base.ctypes.data) // base.itemsize
    return base[offset : offset + (pointer - start) // base.itemsize]


class _Group:
    """Parameters of one dtype seen as one flat vector, so an update is a few whole-vector numpy calls.

    When the params and grads are views tiling one contiguous vector each (Model's storage), the group
    reads and updates those vectors directly; otherwise it gathers the grads and scatters the steps.
    """

    def __init__(
        self,
        index: list[int],
        params: Sequence[np.ndarray],
        grads: Sequence[np.ndarray],
        slots: Mapping[str, float],
    ):
        bounds = np.cumsum([0, *(params[i].size for i in index)]).tolist()
        spans = [(lo, hi, params[i].shape) for lo, hi, i in zip(bounds, bounds[1:], index, strict=False)]
        self.dtype = params[index[0]].dtype
        self.index = index
        self.slots = {name: np.full(bounds[-1], fill, self.dtype) for name, fill in slots.items()}
        self.gathered_grads, self.gathered_params, self.decayed, self.step_vector, self.scratch = np.empty(
            (5, bounds[-1]), self.dtype
        )
        self.steps = [self.step_vector[lo:hi].reshape(shape) for lo, hi, shape in spans]
        self.state = [
            {name: slot[lo:hi].reshape(shape) for name, slot in self.slots.items()} for lo, hi, shape in spans
        ]
        self.param_views, self.grad_views = [params[i] for i in index], [grads[i] for i in index]
        self.flat_params, self.flat_grads = _flat_span(self.param_views), _flat_span(self.grad_views)

    def tiled(
        self, arrays: Sequence[np.ndarray], views: list[np.ndarray], flat: np.ndarray | None
    ) -> np.ndarray | None:
        """`flat` while `arrays` still hold this group's views of it (updating it updates them), else None."""
        if flat is not None and all(map(is_, map(arrays.__getitem__, self.index), views)):
            return flat
        return None

    def gather(self, arrays: Sequence[np.ndarray], out: np.ndarray) -> np.ndarray:
        if len(self.index) == 1:
            return arrays[self.index[0]].reshape(-1)
        return np.concatenate([arrays[i].ravel() for i in self.index], out=out)


class OptimizerSchema(Strict):
    """What every optimizer's config holds: its registry name and its learning rate."""

    name: str
    lr: float


class Optimizer:
    """Base optimizer: `step(params, grads)` updates params in place; state is kept per list position.

    Params of one dtype that tile one contiguous vector (a built Model's) are updated as that vector;
    otherwise those below SMALL elements share one flat state vector per dtype (one numpy call per
    operation for a whole small net) and larger ones get their own. `state[i]` views param i's state.
    A subclass gives its rule as `update`; hyperparameters reach numpy as `Scalar`s.
    """

    Config: ClassVar[type[OptimizerSchema]]
    decoupled = False
    torch_class = ""

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.weight_decay = weight_decay
        self._weight_decay, self._lr_scalar, self._decay = Scalar(weight_decay), Scalar(), Scalar()
        self.lr = lr
        self.t = 0
        self.state: list[dict[str, np.ndarray]] = []
        self._groups: list[_Group] | None = None
        self._whole: tuple[_Group, np.ndarray, np.ndarray] | None = None

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        """The current lr: the config's, then what the schedule gives (which may reach 0)."""
        self._lr = real("lr", value, 0)
        self._lr_scalar.set(self._lr)
        self._decay.set(1 - self._lr * self.weight_decay)

    def torch(self, parameters: str = "model.parameters()") -> str:
        """The equivalent torch.optim optimizer over `parameters`, as a Python expression."""
        args = "".join(f", {k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"torch.optim.{self.torch_class or type(self).__name__}({parameters}{args})"

    def slots(self) -> dict[str, float]:
        """State vectors this optimizer keeps, with their initial values."""
        return {}

    def update(
        self, grad: np.ndarray, state: dict[str, np.ndarray], step: np.ndarray, scratch: np.ndarray
    ) -> None:
        """Fill `step` with the step for the flat gradient `grad` (read-only) and its `state` vectors."""
        raise NotImplementedError

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Update params in place from grads; the lists keep the same order on every call."""
        if self._whole is not None:
            whole, flat_params, flat_grads = self._whole
            if (
                len(params) == len(grads) == len(whole.param_views)
                and all(map(is_, params, whole.param_views))
                and all(map(is_, grads, whole.grad_views))
            ):
                self.t += 1
                self._advance(whole, flat_params, flat_grads, params)
                return
        if len(grads) != len(params):
            raise ValueError(f"optimizer got {len(params)} parameters and {len(grads)} gradients")
        groups = self._groups
        if groups is None:
            groups = self._build(params, grads)
        elif len(params) != len(self.state):
            raise ValueError(f"optimizer state is for {len(self.state)} parameters, got {len(params)}")
        self.t += 1
        for group in groups:
            tiled_grads = group.tiled(grads, group.grad_views, group.flat_grads)
            self._advance(
                group,
                group.tiled(params, group.param_views, group.flat_params),
                tiled_grads if tiled_grads is not None else group.gather(grads, group.gathered_grads),
                params,
            )

    def _advance(
        self, group: _Group, flat_params: np.ndarray | None, grad: np.ndarray, params: Sequence[np.ndarray]
    ) -> None:
        """One step of the group: `flat_params` updated as one vector, or else each of its params."""
        if self.weight_decay and not self.decoupled:
            weights = flat_params if flat_params is not None else group.gather(params, group.gathered_params)
            decayed = np.multiply(weights, self._weight_decay[group.dtype], group.decayed)
            grad = np.add(grad, decayed, decayed)
        self.update(grad, group.slots, group.step_vector, group.scratch)
        decay = self._decay[group.dtype] if self.decoupled and self.weight_decay else None
        if flat_params is not None:
            if decay is not None:
                flat_params *= decay
            flat_params -= group.step_vector
            return
        for i, delta in zip(group.index, group.steps, strict=True):
            p = params[i]
            if decay is not None:
                p *= decay
            p -= delta

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Copies of the step count ("t") and every state vector, keyed "{param index}.{slot}"."""
        arrays = {"t": np.array(self.t, dtype=np.int64)}
        for i, state in enumerate(self.state):
            arrays.update({f"{i}.{name}": value.copy() for name, value in state.items()})
        return arrays

    def load_state_arrays(
        self, arrays: Mapping[str, np.ndarray], params: Sequence[np.ndarray], grads: Sequence[np.ndarray]
    ) -> None:
        """Restore what `state_arrays` gave, for these params (the same list `step` is called with)."""
        if self._groups is None:
            self._build(params, grads)
        expected = {f"{i}.{name}": v for i, state in enumerate(self.state) for name, v in state.items()}
        given = set(arrays) - {"t"}
        if given != expected.keys():
            raise ValueError(f"optimizer state keys differ: expected {sorted(expected)}, got {sorted(given)}")
        for key, target in expected.items():
            value = np.asarray(arrays[key])
            if value.shape != target.shape:
                raise ValueError(f"optimizer state {key!r} has shape {value.shape}, expected {target.shape}")
            target[...] = value
        self.t = int(arrays["t"])

    def _build(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> list[_Group]:
        slots = self.slots()
        by_dtype: dict[np.dtype, list[int]] = {}
        for i, p in enumerate(params):
            by_dtype.setdefault(p.dtype, []).append(i)
        groups: list[_Group] = []
        for index in by_dtype.values():
            group = _Group(index, params, grads, slots)
            if group.flat_params is not None and group.flat_grads is not None:
                groups.append(group)
                continue
            small = [i for i in index if params[i].size < SMALL]
            large = [[i] for i in index if params[i].size >= SMALL]
            groups += [_Group(part, params, grads, slots) for part in [small, *large] if part]
        self.state = [{} for _ in params]
        for group in groups:
            for i, state in zip(group.index, group.state, strict=True):
                self.state[i] = state
        self._groups = groups
        self._whole = None
        if len(groups) == 1 and groups[0].flat_params is not None and groups[0].flat_grads is not None:
            self._whole = groups[0], groups[0].flat_params, groups[0].flat_grads
        return groups

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({params})"


class SGDConfig(OptimizerSchema):
    """Stochastic gradient descent with optional (Nesterov) momentum."""

    model_config = ConfigDict(title="SGD")
    name: Literal["sgd"] = "sgd"
    lr: float = Field(0.03, gt=0, le=10)
    momentum: float = Field(0.0, ge=0, lt=1)
    dampening: float = Field(0.0, ge=0, le=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGDConfig:
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0")
        return self


class SGD(Optimizer):
    """SGD with momentum: b = g at step 1, then b = momentum b + (1 - dampening) g; p -= lr d.

    d = b (or g + momentum b with nesterov; g without momentum); g includes weight_decay * p.
    """

    Config = SGDConfig

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        config = validated(
            self.Config,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=weight_decay,
        )
        super().__init__(config.lr, config.weight_decay)
        self.momentum, self.dampening, self.nesterov = config.momentum, config.dampening, config.nesterov
        self._momentum, self._undamped = Scalar(self.momentum), Scalar(1 - self.dampening)

    def slots(self) -> dict[str, float]:
        return {"momentum_buffer": 0.0} if self.momentum else {}

    def update(
        self, grad: np.ndarray, state: dict[str, np.ndarray], step: np.ndarray, scratch: np.ndarray
    ) -> None:
        dtype = grad.dtype
        if self.momentum:
            buffer = state["momentum_buffer"]
            if self.t == 1:
                np.copyto(buffer, grad)
            else:
                buffer *= self._momentum[dtype]
                buffer += np.multiply(grad, self._undamped[dtype], scratch) if self.dampening else grad
            if self.nesterov:
                grad = np.add(grad, np.multiply(buffer, self._momentum[dtype], scratch), scratch)
            else:
                grad = buffer
        np.multiply(grad, self._lr_scalar[dtype], step)


class AdagradConfig(OptimizerSchema):
    """AdaGrad: per-parameter steps shrink with the sum of squared gradients."""

    model_config = ConfigDict(title="Adagrad")
    name: Literal["adagrad"] = "adagrad"
    lr: float = Field(0.01, gt=0, le=10)
    lr_decay: float = Field(0.0, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    initial_accumulator_value: float = Field(0.0, ge=0, le=10)
    eps: float = Field(1e-10, gt=0, le=1)


class Adagrad(Optimizer):
    """AdaGrad: sum += g^2; p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps)."""

    Config = AdagradConfig

    def __init__(
        self,
        lr: float = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ):
        config = validated(
            self.Config,
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        super().__init__(config.lr, config.weight_decay)
        self.lr_decay, self.eps = config.lr_decay, config.eps
        self.initial_accumulator_value = config.initial_accumulator_value
        self._eps, self._decayed_lr = Scalar(self.eps), Scalar()

    def slots(self) -> dict[str, float]:
        return {"sum": self.initial_accumulator_value}

    def update(
        self, grad: np.ndarray, state: dict[str, np.ndarray], step: np.ndarray, scratch: np.ndarray
    ) -> None:
        dtype = grad.dtype
        total = state["sum"]
        total += np.multiply(grad, grad, step)
        np.sqrt(total, step)
        step += self._eps[dtype]
        lr = self._decayed_lr.set(self._lr / (1 + (self.t - 1) * self.lr_decay))[dtype]
        np.divide(np.multiply(grad, lr, scratch), step, step)


class RMSpropConfig(OptimizerSchema):
    """RMSProp: steps scaled by a running mean of squared gradients."""

    model_config = ConfigDict(title="RMSprop")
    name: Literal["rmsprop"] = "rmsprop"
    lr: float = Field(0.01, gt=0, le=10)
    alpha: float = Field(0.99, gt=0, lt=1)
    eps: float = Field(1e-8, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    momentum: float = Field(0.0, ge=0, lt=1)
    centered: bool = False


class RMSprop(Optimizer):
    """RMSProp: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v - centered * mean(g)^2) + eps).

    With momentum: b = momentum b + g / (sqrt(.) + eps); p -= lr b.
    """

    Config = RMSpropConfig

    def __init__(
        self,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        config = validated(
            self.Config,
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )
        super().__init__(config.lr, config.weight_decay)
        self.alpha, self.eps, self.momentum, self.centered = (
            config.alpha,
            config.eps,
            config.momentum,
            config.centered,
        )
        self._alpha, self._one_minus_alpha = Scalar(self.alpha), Scalar(1 - self.alpha)
        self._eps, self._momentum = Scalar(self.eps), Scalar(self.momentum)

    def slots(self) -> dict[str, float]:
        slots = {"square_avg": 0.0}
        if self.momentum:
            slots["momentum_buffer"] = 0.0
        if self.centered:
            slots["grad_avg"] = 0.0
        return slots

    def update(
        self, grad: np.ndarray, state: dict[str, np.ndarray], step: np.ndarray, scratch: np.ndarray
    ) -> None:
        dtype = grad.dtype
        one_minus_alpha = self._one_minus_alpha[dtype]
        square_avg = state["square_avg"]
        square_avg *= self._alpha[dtype]
        square_avg += np.multiply(np.multiply(grad, one_minus_alpha, step), grad, step)
        if self.centered:
            grad_avg = state["grad_avg"]
            grad_avg += np.multiply(np.subtract(grad, grad_avg, step), one_minus_alpha, step)
            np.sqrt(np.subtract(square_avg, np.multiply(grad_avg, grad_avg, step), step), step)
        else:
            np.sqrt(square_avg, step)
        step += self._eps[dtype]
        if self.momentum:
            buffer = state["momentum_buffer"]
            buffer *= self._momentum[dtype]
            buffer += np.divide(grad, step, step)
            np.multiply(buffer, self._lr_scalar[dtype], step)
        else:
            np.divide(np.multiply(grad, self._lr_scalar[dtype], scratch), step, step)


Beta = Annotated[float, Field(ge=0, lt=1, strict=True)]


class AdamConfig(OptimizerSchema):
    """Adam: bias-corrected first and second moment estimates."""

    model_config = ConfigDict(title="Adam")
    name: Literal["adam"] = "adam"
    lr: float = Field(0.001, gt=0, le=10)
    betas: tuple[Beta, Beta] = Field((0.9, 0.999), strict=False, description="two numbers (a JSON array)")
    eps: float = Field(1e-8, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    amsgrad: bool = False


class Adam(Optimizer):
    """Adam: m = lerp(m, g, 1 - b1), v = b2 v + (1 - b2) g^2; p -= lr / c1 * m / (sqrt(v) / sqrt(c2) + eps).

    c_i = 1 - b_i^t; amsgrad uses the running max of v; weight_decay adds weight_decay * p to g.
    """

    Config: ClassVar[type[AdamConfig]] = AdamConfig

    def __init__(
        self,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ):
        config = validated(
            self.Config, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )
        super().__init__(config.lr, config.weight_decay)
        self.betas, self.eps, self.amsgrad = config.betas, config.eps, config.amsgrad
        beta1, beta2 = self.betas
        self._one_minus_beta1, self._beta2 = Scalar(1 - beta1), Scalar(beta2)
        self._one_minus_beta2, self._eps = Scalar(1 - beta2), Scalar(self.eps)
        self._step_size, self._second = Scalar(), Scalar()

    def slots(self) -> dict[str, float]:
        slots = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
        if self.amsgrad:
            slots["max_exp_avg_sq"] = 0.0
        return slots

    def update(
        self, grad: np.ndarray, state: dict[str, np.ndarray], step: np.ndarray, scratch: np.ndarray
    ) -> None:
        dtype = grad.dtype
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg += np.multiply(np.subtract(grad, exp_avg, step), self._one_minus_beta1[dtype], step)
        exp_avg_sq *= self._beta2[dtype]
        exp_avg_sq += np.multiply(np.multiply(grad, self._one_minus_beta2[dtype], step), grad, step)
        if self.amsgrad:
            exp_avg_sq = np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        first, second = self.bias_corrections()
        np.sqrt(exp_avg_sq, step)
        step /= self._second.set(second)[dtype]
        step += self._eps[dtype]
        np.divide(np.multiply(exp_avg, self._step_size.set(self._lr / first)[dtype], scratch), step, step)

    def bias_corrections(self) -> tuple[float, float]:
        """(c1, sqrt(c2)): what m and sqrt(v) are divided by at step t."""
        beta1, beta2 = self.betas
        return 1 - beta1**self.t, (1 - beta2**self.t) ** 0.5


class AdamWConfig(AdamConfig):
    """Adam with decoupled weight decay."""

    model_config = ConfigDict(title="AdamW")
    name: Literal["adamw"] = "adamw"  # type: ignore[assignment]
    weight_decay: float = Field(0.01, ge=0, le=1)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, p *= 1 - lr * weight_decay before the Adam step."""

    Config = AdamWConfig
    decoupled = True

    def __init__(
        self,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ):
        super().__init__(lr, betas, eps, weight_decay, amsgrad)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}


def get(spec: Any) -> Optimizer:
    """An optimizer from a name, a {"name": ..., **hyper} dict, a pydantic optimizer config or an instance."""
    return lookup("optimizer", OPTIMIZERS, Optimizer, spec)
