"""Model: a sequential stack of layers with torch.nn.Sequential's state_dict."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from engine import fused
from engine import layers as layer_registry
from engine.layers import Layer

MAX_PARAMETERS = 2_000_000
PREDICT_BATCH = 1024


def _layer_name(index: int, layer: Layer) -> str:
    return f"layer {index} ({type(layer).__name__})"


class Model:
    """A sequential stack: forward runs the layers in order, backward runs them in reverse."""

    def __init__(self, layers: Sequence[Layer], input_shape: Sequence[int]):
        self.layers = list(layers)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shapes: list[tuple[int, ...]] = []
        self.dtype: np.dtype = np.dtype("float64")
        self.steps: list[fused.Step] = []
        self.flat_parameters: list[np.ndarray] = []
        self._tiled: list[np.ndarray] = []
        self._forward_steps: list[tuple[Callable[[np.ndarray, bool], np.ndarray], bool]] = []
        self._backward_steps: list[tuple[Callable[[np.ndarray, bool, bool], np.ndarray | None], bool]] = []

    @staticmethod
    def layer_specs(specs: Sequence[Mapping[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        """(position in specs, spec) per layer: a spec's "activation" key becomes its own activation layer."""
        expanded: list[tuple[int, dict[str, Any]]] = []
        for position, given in enumerate(specs):
            spec = dict(given)
            activation = spec.pop("activation", None)
            expanded.append((position, spec))
            if activation is not None:
                activation = {"name": activation} if isinstance(activation, str) else activation
                expanded.append((position, {"type": "activation", **activation}))
        return expanded

    @classmethod
    def from_specs(cls, specs: Sequence[Mapping[str, Any]], input_shape: Sequence[int]) -> Model:
        """Build from dicts like {"type": "dense", "units": 4}; an "activation" key adds its own layer."""
        return cls([layer_registry.get(spec) for _, spec in cls.layer_specs(specs)], input_shape)

    def build(self, rng: np.random.Generator, dtype: DTypeLike = "float32") -> Model:
        """Create every parameter for inputs of shape (batch, *input_shape), after checking the shapes."""
        self.dtype = np.dtype(dtype)
        shape, count = self.input_shape, 0
        for index, layer in enumerate(self.layers):
            try:
                count += sum(int(np.prod(s)) for s in layer.parameter_shapes(shape).values())
                shape = tuple(layer.output_shape(shape))
            except ValueError as error:
                raise ValueError(f"{_layer_name(index, layer)}: {error}") from None
        if count > MAX_PARAMETERS:
            raise ValueError(f"the model has {count:,} parameters; the limit is {MAX_PARAMETERS:,}")
        shape = self.input_shape
        self.output_shapes = []
        for index, layer in enumerate(self.layers):
            try:
                shape = tuple(layer.build(shape, rng, self.dtype))
            except ValueError as error:
                raise ValueError(f"{_layer_name(index, layer)}: {error}") from None
            self.output_shapes.append(shape)
        self._flatten_parameters()
        self.steps = fused.steps(self.layers)
        last = len(self.steps) - 1
        self._forward_steps = [(step.forward, i == last) for i, step in enumerate(self.steps)]
        self._backward_steps = [(step.backward, i == 0) for i, step in reversed(list(enumerate(self.steps)))]
        return self

    def _flatten_parameters(self) -> None:
        """Every param and its grad become views into one contiguous vector per dtype, in parameters() order.

        An optimizer then updates them all with a few whole-vector numpy calls.
        """
        by_dtype: dict[np.dtype, list[tuple[Layer, str]]] = {}
        self.flat_parameters = []
        for layer in self.layers:
            for key, value in layer.params.items():
                by_dtype.setdefault(value.dtype, []).append((layer, key))
        for dtype, entries in by_dtype.items():
            size = sum(layer.params[key].size for layer, key in entries)
            values, grads = np.empty(size, dtype), np.zeros(size, dtype)
            start = 0
            for layer, key in entries:
                shape = layer.params[key].shape
                stop = start + layer.params[key].size
                value, grad = values[start:stop].reshape(shape), grads[start:stop].reshape(shape)
                value[...] = layer.params[key]
                if key in layer.grads:
                    grad[...] = layer.grads[key]
                layer.adopt({key: value}, {key: grad})
                start = stop
            self.flat_parameters.append(values)
        self._tiled = self.parameters()

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.output_shapes[-1] if self.output_shapes else self.input_shape

    @property
    def num_parameters(self) -> int:
        return sum(p.size for layer in self.layers for p in layer.params.values())

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The output for x as a new array, through the fused steps (in training, over their buffers)."""
        if training and self.steps:
            for forward, fresh in self._forward_steps:
                x = forward(x, fresh)
            return x
        if self.steps:
            for step in self.steps:
                x = step.evaluate(x)
            return x
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def trace(self, x: np.ndarray) -> list[np.ndarray]:
        """Eval-mode forward returning [input, output of layer 0, output of layer 1, ...]."""
        outputs = [x]
        for layer in self.layers:
            outputs.append(layer.forward(outputs[-1], False))
        return outputs

    def backward(self, grad: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Fill every layer's grads from dL/doutput; return dL/dinput (None when input_grad is False)."""
        if not self.steps:
            for layer in reversed(self.layers):
                grad = layer.backward(grad)
            return grad
        for backward, first in self._backward_steps:
            below = backward(grad, input_grad or not first, first)
            if below is None:
                return None
            grad = below
        return grad if input_grad else None

    def parameters_finite(self) -> bool:
        """Whether every parameter is a finite number (one check per flat vector while they tile them)."""
        params = self.parameters()
        tiled = len(params) == len(self._tiled) and all(map(operator.is_, params, self._tiled))
        return all(np.isfinite(v).all() for v in (self.flat_parameters if tiled else params))

    def predict(self, x: ArrayLike, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Eval-mode outputs for inputs of shape (n, *input_shape), in batches."""
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[1:] != self.input_shape:
            raise ValueError(
                f"inputs must have shape (n, {', '.join(map(str, self.input_shape))}), got {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("inputs must be finite numbers")
        return self.outputs(x, batch_size)

    def outputs(self, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """`predict` for inputs already known finite, of the model's dtype and input shape (no checks)."""
        if len(x) == 0:
            return np.zeros((0, *self.output_shape), dtype=self.dtype)
        if len(x) <= batch_size:
            return self.forward(x)
        return np.concatenate([self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def parameters(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.params.values()]

    def gradients(self) -> list[np.ndarray]:
        return [layer.grads[key] for layer in self.layers for key in layer.params]

    def regularized_weights(self) -> list[tuple[Layer, str]]:
        return [(layer, key) for layer in self.layers for key in layer.regularized]

    def summary(self) -> list[dict[str, Any]]:
        """One row per layer: index, type, output shape and parameter count."""
        return [
            {
                "index": index,
                "type": type(layer).__name__,
                "output_shape": list(shape),
                "params": sum(p.size for p in layer.params.values()),
            }
            for index, (layer, shape) in enumerate(zip(self.layers, self.output_shapes, strict=True))
        ]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer under torch.nn.Sequential's keys, e.g. "0.weight"."""
        state: dict[str, np.ndarray] = {}
        for index, layer in enumerate(self.layers):
            for key, value in (*layer.params.items(), *layer.buffers.items()):
                state[f"{index}.{key}"] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state: Mapping[str, ArrayLike]) -> None:
        """Copy values into the parameters and buffers; keys and shapes must match state_dict()."""
        expected = {
            f"{index}.{key}": value
            for index, layer in enumerate(self.layers)
            for key, value in (*layer.params.items(), *layer.buffers.items())
        }
        missing, unexpected = expected.keys() - state.keys(), state.keys() - expected.keys()
        if missing or unexpected:
            raise ValueError(
                f"state_dict keys differ: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
            )
        for key, target in expected.items():
            value = np.asarray(state[key])
            if value.shape != target.shape:
                raise ValueError(
                    f"state_dict[{key!r}] has shape {value.shape}, the model needs {target.shape}"
                )
            if not np.all(np.isfinite(value)):
                raise ValueError(f"state_dict[{key!r}] has non-finite values")
            target[...] = value
