"""Backprop step by step: a small dense net's computational graph on one example, forward and reverse mode.

Nodes are scalars: inputs x_i, weighted sums z_j = sum_i w_ji a_i + b_j, activations a_j = f(z), the loss L.
Edges carry local derivatives (dz_j/da_i = w_ji, da_k/dz_j = f'), and reverse mode accumulates
dL/dnode = sum over children of dL/dchild * dchild/dnode, from L = 1 back to the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import activations
from engine.config import ActivationLayer, DenseLayer, RunConfig
from engine.layers import Dense, Layer
from engine.losses import Loss
from engine.model import Model
from engine.plan import PlanError
from engine.trainer import Trainer

MAX_HIDDEN_LAYERS = 3
MAX_UNITS = 8
MAX_INPUTS = 8
MAX_OUTPUTS = 10
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")

DERIVATIVES = {
    "identity": "1",
    "step": "0",
    "sigmoid": "a (1 − a)",
    "hardsigmoid": "1/6 if −3 < z < 3, else 0",
    "hard_logistic": "1/4 if −2 < z < 2, else 0",
    "tanh": "1 − a²",
    "hardtanh": "1 if min_val < z < max_val, else 0",
    "relu": "1 if z > 0, else 0",
    "leaky_relu": "1 if z > 0, else negative_slope",
    "prelu": "1 if z > 0, else α (and ∂a/∂α = z if z ≤ 0, else 0)",
    "rrelu": "1 if z > 0, else (lower + upper) / 2 (eval mode)",
    "elu": "1 if z > 0, else a + α",
    "selu": "λ if z > 0, else a + λα",
    "gelu": "Φ(z) + z φ(z) (tanh form: its derivative)",
    "silu": "σ(z) (1 + z (1 − σ(z)))",
    "swish": "σ(βz) (1 + βz (1 − σ(βz)))",
    "softplus": "σ(βz) (1 above the threshold)",
    "softsign": "1 / (1 + |z|)²",
    "softmax": "∂a_k/∂z_j = a_k (δ_kj − a_j)",
}

LOSSES = {
    "mse": ("L = mean_k (o_k − y_k)²", "∂L/∂o_k = 2 (o_k − y_k) / K"),
    "mae": ("L = mean_k |o_k − y_k|", "∂L/∂o_k = sign(o_k − y_k) / K"),
    "smooth_l1": (
        "L = mean_k (½ d²/β if |d| < β else |d| − ½β), d = o − y",
        "∂L/∂o_k = clip(d / β, −1, 1) / K",
    ),
    "huber": ("L = mean_k (½ d² if |d| < δ else δ (|d| − ½δ)), d = o − y", "∂L/∂o_k = clip(d, −δ, δ) / K"),
    "bce": ("L = −(y log p + (1 − y) log(1 − p))", "∂L/∂p = (p − y) / (p (1 − p))"),
    "bce_with_logits": ("L = −(y log σ(o) + (1 − y) log(1 − σ(o)))", "∂L/∂o = σ(o) − y"),
    "cross_entropy": ("L = −log softmax(o)_y", "∂L/∂o_k = softmax(o)_k − [k = y]"),
}

PRESETS = {
    "TF-Playground default: circle, 2-4-2-1 tanh": {
        "data": {"dataset": "circle"},
        "model": {
            "layers": [
                {"type": "dense", "units": 4, "activation": "tanh"},
                {"type": "dense", "units": 2, "activation": "tanh"},
            ]
        },
    },
    "XOR, 2-2-1 sigmoid": {
        "data": {"dataset": "xor"},
        "model": {"layers": [{"type": "dense", "units": 2, "activation": "sigmoid"}]},
    },
    "3-class spiral, 2-3-3 relu, softmax cross-entropy": {
        "data": {"dataset": "spiral", "classes": 3},
        "model": {"layers": [{"type": "dense", "units": 3, "activation": "relu"}]},
    },
    "regression (plane), 2-3-1 sigmoid, MSE": {
        "data": {"dataset": "plane"},
        "model": {"layers": [{"type": "dense", "units": 3, "activation": "sigmoid"}]},
    },
}


@dataclass
class Param:
    """A weight or bias by state_dict name and index, and its gradient."""

    name: str
    index: tuple[int, ...]
    value: float
    grad: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.name}[{', '.join(map(str, self.index))}]"


@dataclass
class Node:
    """One scalar of the graph: its value, dL/dnode, and the parameters entering it with d node / d param."""

    id: str
    label: str
    kind: str
    column: int
    unit: int
    op: str
    params: list[Param] = field(default_factory=list)
    value: float = 0.0
    grad: float = 0.0
    parents: list[Edge] = field(default_factory=list)
    children: list[Edge] = field(default_factory=list)
    seeds: list[float] = field(default_factory=list)


@dataclass
class Edge:
    """source -> target with the local derivative d target / d source (a weight, f', or dL/do)."""

    source: Node
    target: Node
    local: float = 0.0


def local_jacobian(layer: activations.Activation, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """da/dz of one activation layer on one example, (units, units): f'(z) on the diagonal; softmax's full."""
    if isinstance(layer, activations.Softmax):
        return np.diag(a) - np.outer(a, a)
    return np.diag(layer.df(z[None], a[None])[0])


def _name(layer: Layer) -> str:
    return next(name for name, cls in activations.ACTIVATIONS.items() if type(layer) is cls)


def _label(letter: str, layer: int, unit: int) -> str:
    return f"{letter}{str(layer).translate(SUPERSCRIPTS)}{str(unit + 1).translate(SUBSCRIPTS)}"


class Graph:
    """A dense Model on one example as a graph: forward values, local derivatives, gradients."""

    def __init__(self, model: Model, loss: Loss, loss_name: str, feature_names: list[str]) -> None:
        self.model, self.loss, self.loss_name = model, loss, loss_name
        self.nodes: list[Node] = []
        self.params: list[Param] = []
        self.columns: list[str] = ["input"]
        self.layers: list[tuple[int, list[Node], list[Node]]] = []
        self.counts = {"forward": 0, "backward": 0, "forward_mode": 0}
        current = [self._node(f"x{i}", name, "input", "input", i) for i, name in enumerate(feature_names)]
        number = 0
        for index, layer in enumerate(model.layers):
            number += isinstance(layer, Dense)
            self.columns.append(f"{index}: {'dense' if isinstance(layer, Dense) else _name(layer)}")
            nodes = [self._unit(index, layer, number, j) for j in range(layer_units(layer, len(current)))]
            for k, node in enumerate(nodes):
                sources = current if isinstance(layer, Dense) or _name(layer) == "softmax" else [current[k]]
                for source in sources:
                    edge = Edge(source, node)
                    source.children.append(edge)
                    node.parents.append(edge)
            self.layers.append((index, current, nodes))
            current = nodes
        self.outputs = current
        self.columns.append("loss")
        self.loss_node = self._node("L", "L", "loss", loss_name, 0)
        for node in current:
            edge = Edge(node, self.loss_node)
            node.children.append(edge)
            self.loss_node.parents.append(edge)

    def _node(self, id_: str, label: str, kind: str, op: str, unit: int) -> Node:
        node = Node(id_, label, kind, len(self.columns) - 1, unit, op)
        self.nodes.append(node)
        return node

    def _unit(self, index: int, layer: Layer, number: int, j: int) -> Node:
        if isinstance(layer, Dense):
            node = self._node(f"z{index}.{j}", _label("z", number, j), "sum", "Σ w·a + b", j)
            inputs = layer.params["weight"].shape[1]
            node.params = [
                Param(f"{index}.weight", (j, i), float(layer.params["weight"][j, i])) for i in range(inputs)
            ]
            if "bias" in layer.params:
                node.params.append(Param(f"{index}.bias", (j,), float(layer.params["bias"][j])))
            self.params += node.params
            return node
        node = self._node(f"a{index}.{j}", _label("a", number, j), "activation", _name(layer), j)
        if "weight" in layer.params:
            if j == 0:
                self.params.append(Param(f"{index}.weight", (0,), float(layer.params["weight"][0])))
            node.params = [self.params[-1]]
        return node

    def forward(self, x: np.ndarray, y: np.ndarray) -> None:
        """Every node's value, edge's local derivative and d node / d param on the example (x, y)."""
        for node, value in zip(self.nodes, x, strict=False):
            node.value = float(value)
        for (_, inputs, nodes), layer in zip(self.layers, self.model.layers, strict=True):
            if isinstance(layer, Dense):
                self._forward_dense(nodes)
            elif isinstance(layer, activations.Activation):
                self._forward_activation(layer, inputs, nodes)
            else:
                raise TypeError(f"Graph steps Dense and Activation layers, not {type(layer).__name__}")
        outputs = np.array([[node.value for node in self.outputs]])
        target = np.asarray(y)[None]
        self.loss_node.value = float(self.loss.forward(outputs, target))
        for edge, local in zip(self.loss_node.parents, self.loss.gradient(outputs, target)[0], strict=True):
            edge.local = float(local)

    def _forward_dense(self, nodes: list[Node]) -> None:
        for node in nodes:
            weights = [p for p in node.params if p.name.endswith(".weight")]
            total = 0.0
            for edge, weight in zip(node.parents, weights, strict=True):
                edge.local = weight.value
                total += weight.value * edge.source.value
                self.counts["forward"] += 1
            total += sum(p.value for p in node.params if p.name.endswith(".bias"))
            node.value = total
            node.seeds = [edge.source.value for edge in node.parents] + [1.0] * (
                len(node.params) - len(weights)
            )

    def _forward_activation(
        self, layer: activations.Activation, inputs: list[Node], nodes: list[Node]
    ) -> None:
        z = np.array([node.value for node in inputs])
        a = layer.f(z[None])[0]
        jacobian = local_jacobian(layer, z, a)
        for k, node in enumerate(nodes):
            node.value = float(a[k])
            for edge in node.parents:
                edge.local = float(jacobian[k, edge.source.unit])
            node.seeds = [float(z[k]) if z[k] <= 0 else 0.0 for _ in node.params]

    def backward(self) -> None:
        """Reverse mode from dL/dL = 1: node gradients from their children, parameter gradients from nodes."""
        self.loss_node.grad = 1.0
        for node in reversed(self.nodes[:-1]):
            node.grad = 0.0
            for edge in node.children:
                node.grad += edge.local * edge.target.grad
                self.counts["backward"] += 1
        for param in self.params:
            param.grad = 0.0
        for node in self.nodes:
            for param, seed in zip(node.params, node.seeds, strict=True):
                param.grad += seed * node.grad
                self.counts["backward"] += 1

    def forward_mode(self) -> dict[str, float]:
        """dL/dparam by forward mode: one tangent pass per parameter, seeded where it enters the graph."""
        grads = {}
        for param in self.params:
            tangents: dict[str, float] = {}
            for node in self.nodes:
                seeded = [seed for p, seed in zip(node.params, node.seeds, strict=True) if p is param]
                reached = [edge for edge in node.parents if edge.source.id in tangents]
                if not seeded and not reached:
                    continue
                tangent = sum(seeded)
                for edge in reached:
                    tangent += edge.local * tangents[edge.source.id]
                self.counts["forward_mode"] += len(seeded) + len(reached)
                tangents[node.id] = tangent
            grads[param.label] = tangents.get("L", 0.0)
        return grads

    def gradients(self) -> dict[str, np.ndarray]:
        """The reverse-mode parameter gradients as arrays under state_dict names."""
        arrays = {
            f"{index}.{key}": np.zeros(value.shape)
            for index, layer in enumerate(self.model.layers)
            for key, value in layer.params.items()
        }
        for param in self.params:
            arrays[param.name][param.index] = param.grad
        return arrays


def layer_units(layer: Layer, inputs: int) -> int:
    return layer.params["weight"].shape[0] if isinstance(layer, Dense) else inputs


def engine_gradients(model: Model, loss: Loss, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The engine's own backward on a batch of the one example: Model.forward (eval), Model.backward."""
    output = model.forward(x[None], training=False)
    model.backward(loss.gradient(output, np.asarray(y)[None]), input_grad=False)
    return {
        f"{i}.{k}": np.array(layer.grads[k]) for i, layer in enumerate(model.layers) for k in layer.params
    }


def check_layers(config: RunConfig) -> None:
    """A PlanError naming the field unless the net is few dense and activation layers with formulas here."""
    dense = 0
    for index, layer in enumerate(config.model.layers):
        where = ("model", "layers", index)
        if not isinstance(layer, DenseLayer | ActivationLayer):
            kind = layer.model_dump()["type"]
            raise PlanError(
                f"backprop steps dense and activation layers only; layer {index} is {kind}", where
            )
        key = "activation" if isinstance(layer, DenseLayer) else "name"
        spec = getattr(layer, key)
        name = spec["name"] if isinstance(spec, dict) else spec
        if name is not None and name not in DERIVATIVES:
            steps = ", ".join(DERIVATIVES)
            message = f"activation {name!r} has no derivative formula in backprop; it steps {steps}"
            raise PlanError(message, (*where, key))
        if isinstance(layer, DenseLayer):
            dense += 1
            if layer.units > MAX_UNITS:
                raise PlanError(
                    f"layer {index} has {layer.units} units; at most {MAX_UNITS} here", (*where, "units")
                )
    if dense > MAX_HIDDEN_LAYERS:
        raise PlanError(f"{dense} hidden dense layers; at most {MAX_HIDDEN_LAYERS} here", ("model", "layers"))


def check_loss(config: RunConfig) -> None:
    """A PlanError naming the loss field unless the loss ("auto" picks a built-in one) has a formula here."""
    name = config.loss["name"] if isinstance(config.loss, dict) else config.loss
    if name != "auto" and name not in LOSSES:
        raise PlanError(f"loss {name!r} has no formula in backprop; it steps {', '.join(LOSSES)}", ("loss",))


def _trainer(config: RunConfig | dict, csv_text: str | None) -> Trainer:
    dumped = config.model_dump(mode="json") if isinstance(config, RunConfig) else dict(config)
    cfg = RunConfig.model_validate({**dumped, "dtype": "float64"})
    check_layers(cfg)
    check_loss(cfg)
    trainer = Trainer(cfg, csv_text=csv_text)
    inputs = int(np.prod(trainer.input_shape))
    if len(trainer.input_shape) != 1 or inputs > MAX_INPUTS:
        raise PlanError(
            f"the data has {inputs} input values; at most {MAX_INPUTS} here", ("data", "features")
        )
    if trainer.output_units > MAX_OUTPUTS:
        raise PlanError(f"{trainer.output_units} output units; at most {MAX_OUTPUTS} here", ("data",))
    return trainer


def _cost(graph: Graph) -> dict[str, Any]:
    count = len(graph.params)
    forward, backward, tangents = (graph.counts[k] for k in ("forward", "backward", "forward_mode"))
    return {
        "parameters": count,
        "forward_pass": forward,
        "reverse": {"passes": 2, "multiply_adds": forward + backward, "backward_pass": backward},
        "forward": {"passes": count, "multiply_adds": count * forward + tangents, "tangents": tangents},
    }


def _node_json(node: Node) -> dict[str, Any]:
    weights = node.params if node.kind == "sum" else []
    return {
        "id": node.id,
        "label": node.label,
        "kind": node.kind,
        "column": node.column,
        "unit": node.unit,
        "op": node.op,
        "value": node.value,
        "grad": node.grad,
        "inputs": [
            {"from": e.source.id, "local": e.local, "param": weights[k].label if weights else None}
            for k, e in enumerate(node.parents)
        ],
        "chain": [
            {
                "to": e.target.id,
                "local": e.local,
                "upstream": e.target.grad,
                "product": e.local * e.target.grad,
            }
            for e in node.children
        ],
        "params": [
            {"param": p.label, "value": p.value, "local": seed, "grad": seed * node.grad}
            for p, seed in zip(node.params, node.seeds, strict=True)
        ],
    }


def backprop(
    config: RunConfig | dict,
    example: int = 0,
    weights: dict[str, np.ndarray] | None = None,
    csv_text: str | None = None,
) -> dict[str, Any]:
    """The graph of the config's net (its seed's weights, or `weights`) on training example `example`.

    Forward values, local derivatives, the chain-rule products and every parameter's gradient, in float64;
    the same gradients from the engine's backward and from forward mode, and what each mode costs.
    """
    trainer = _trainer(config, csv_text)
    if weights is not None:
        trainer.model.load_state_dict(weights)
    count = len(trainer.x_train)
    if not 0 <= example < count:
        raise PlanError(f"example must be in [0, {count}), the training set's indices", ("example",))
    x, y = trainer.x_train[example], trainer.y_train[example]
    names = trainer.dataset.feature_names or [f"x{i + 1}" for i in range(len(x))]
    graph = Graph(trainer.model, trainer.loss, trainer.loss_name, names)
    graph.forward(x, y)
    graph.backward()
    forward_mode = graph.forward_mode()
    ours = graph.gradients()
    engine = engine_gradients(trainer.model, trainer.loss, x, y)
    difference = max(float(np.max(np.abs(ours[k] - engine[k]))) for k in engine)
    mode_difference = max(abs(forward_mode[p.label] - p.grad) for p in graph.params)
    order = [node.id for node in graph.nodes]
    loss_formula, loss_derivative = LOSSES[trainer.loss_name]
    return {
        "example": example,
        "examples": count,
        "input": x.tolist(),
        "target": np.asarray(y).tolist(),
        "loss": {
            "name": trainer.loss_name,
            "value": graph.loss_node.value,
            "formula": loss_formula,
            "derivative": loss_derivative,
        },
        "columns": graph.columns,
        "derivatives": {
            name: DERIVATIVES[name] for name in {n.op for n in graph.nodes if n.kind == "activation"}
        },
        "nodes": [_node_json(node) for node in graph.nodes],
        "steps": [{"phase": "forward", "node": i} for i in order]
        + [{"phase": "backward", "node": i} for i in reversed(order)],
        "gradients": {k: v.tolist() for k, v in ours.items()},
        "engine_gradients": {k: v.tolist() for k, v in engine.items()},
        "engine_difference": difference,
        "forward_mode_difference": mode_difference,
        "cost": _cost(graph),
    }
