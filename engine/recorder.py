"""The telemetry recorder: when an epoch gets heavy fields, and those fields computed on the model."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import telemetry as tm
from engine.config import TelemetryConfig
from engine.datasets import ArrayDataset, expand_features
from engine.losses import Loss
from engine.model import Model

HEAVY_RECORDS_PER_RUN = 200


@functools.cache
def thumbnail_picks(n: int, m: int) -> np.ndarray:
    """Indices into an n x n grid of the m x m points a thumbnail samples."""
    rows = np.linspace(0, n - 1, m).round().astype(np.intp)
    return (rows[:, None] * n + rows[None, :]).ravel()


class Recorder:
    """Heavy telemetry of one run: its schedule, and histograms, grids, feature maps and weights on demand."""

    def __init__(
        self,
        telemetry: TelemetryConfig,
        epochs: int,
        model: Model,
        loss: Loss,
        task: str,
        dataset: ArrayDataset,
        probe: np.ndarray,
        probe_targets: np.ndarray,
        layer_labels: Sequence[str],
    ):
        self.telemetry = telemetry
        self.epochs = epochs
        self.model = model
        self.loss = loss
        self.task = task
        self.dataset = dataset
        self.probe = probe
        self.probe_targets = probe_targets
        self.layer_labels = list(layer_labels)
        self.dtype = probe.dtype
        self.requested = False
        self._grids: dict[int, tuple[dict[str, Any], dict[str, Any], np.ndarray]] = {}

    @property
    def every(self) -> int:
        """Heavy telemetry every `telemetry.every` epochs, by default max(1, epochs // 200)."""
        return self.telemetry.every or max(1, self.epochs // HEAVY_RECORDS_PER_RUN)

    def request(self) -> None:
        """Make the next epoch heavy, whatever the schedule."""
        self.requested = True

    def due(self, epoch: int) -> bool:
        """Whether `epoch` is heavy: asked for, on the schedule, the first or the last; clears the request."""
        requested, self.requested = self.requested, False
        return requested or epoch % self.every == 0 or epoch == self.epochs or epoch == 1

    def fields(
        self, before: list[np.ndarray] | None, probe_trace: list[np.ndarray] | None = None
    ) -> dict[str, Any]:
        """The record's heavy part; `before` holds the parameters before the epoch's last update.

        `probe_trace` is `model.trace(probe)` when the caller has it (the trainer's evaluation does).
        """
        t = self.telemetry
        images = t.feature_maps and len(self.probe.shape) == 4
        if probe_trace is None and (t.activations or images):
            probe_trace = self.model.trace(self.probe)
        fields: dict[str, Any] = {"heavy": True, "layers": self.layer_rows(before, probe_trace)}
        if self.dataset.domain is not None and self.dataset.feature_names and (t.boundary or t.neurons):
            fields.update(self.plane())
        if images and probe_trace is not None:
            fields["feature_maps"] = self.feature_maps(probe_trace)
        if t.weights:
            fields["weights"] = {
                str(index): {key: tm.encode(value) for key, value in layer.params.items()}
                for index, layer in enumerate(self.model.layers)
                if "weight" in layer.params and layer.params["weight"].size <= t.max_weights
            }
        return fields

    def layer_rows(
        self, before: list[np.ndarray] | None, probe_trace: list[np.ndarray] | None = None
    ) -> list[dict[str, Any]]:
        """Per layer: histograms of weights, gradients and activations, norms, dead and saturated units."""
        t = self.telemetry
        bins = t.bins
        trace = None
        if t.activations:
            trace = probe_trace if probe_trace is not None else self.model.trace(self.probe)
        rows = []
        position = 0
        for index, layer in enumerate(self.model.layers):
            row: dict[str, Any] = {
                "index": index,
                "type": type(layer).__name__.lower(),
                "label": self.layer_labels[index],
            }
            params = layer.params
            if params:
                grads = [layer.grads[key] for key in params] if layer.grads else []
                row["grad_norm"] = tm.l2_norm(grads) if grads else None
                if "weight" in params:
                    weight = params["weight"]
                    if t.histograms:
                        row["weight"] = tm.stats(weight, bins)
                        if "weight" in layer.grads:
                            row["grad"] = tm.stats(layer.grads["weight"], bins)
                    if before is not None:
                        old = before[position + list(params).index("weight")]
                        norm = tm.l2_norm([old])
                        row["update_ratio"] = tm.l2_norm([weight - old]) / norm if norm > 0 else None
                position += len(params)
            if trace is not None and hasattr(layer, "kind"):
                x, y = trace[index], trace[index + 1]
                if t.histograms:
                    row["activation"] = tm.stats(y, bins)
                row["dead_fraction"], row["saturated_fraction"] = tm.unit_fractions(layer, x, y)
            rows.append(row)
        return rows

    def feature_maps(self, probe_trace: list[np.ndarray]) -> dict[str, Any]:
        """The first probe sample and each image-shaped layer output on it, (channels, height, width)."""
        trace = [output[:1] for output in probe_trace]
        return {
            "input": tm.encode(trace[0][0]),
            "label": self.probe_targets[0].tolist(),
            "layers": [
                {"layer": index, "type": type(layer).__name__.lower(), "maps": tm.encode(trace[index + 1][0])}
                for index, layer in enumerate(self.model.layers)
                if trace[index + 1].ndim == 4
            ],
        }

    def plane(self) -> dict[str, Any]:
        """The decision boundary over the input plane; for small nets each neuron's output, coarser."""
        t = self.telemetry
        n = t.grid_size
        xs, ys, inputs = self._grid_inputs(n)
        trace = self.model.trace(inputs)
        output = trace[-1]
        if self.task == "regression":
            z, kind = output[:, 0], "value"
        elif output.shape[1] == 1:
            z, kind = self.loss.output(output)[:, 0], "probability"
        else:
            z, kind = np.argmax(output, axis=1).astype(np.float64), "class"
        fields: dict[str, Any] = {}
        if t.boundary:
            fields["boundary"] = {"x": xs, "y": ys, "z": tm.quantize(z.reshape(n, n)), "kind": kind}
        if t.neurons and self._is_small_dense():
            fields["neurons"] = self.neuron_grids(trace, n, min(t.neuron_grid_size, n))
        return fields

    def neuron_grids(self, trace: list[np.ndarray], n: int, m: int) -> list[dict[str, Any]]:
        """Each input feature's and each unit's output over an m x m thumbnail of the n x n plane trace."""
        picks = thumbnail_picks(n, m)
        layers = self.model.layers
        owners, blocks = [-1], [trace[0][picks]]
        for index, layer in enumerate(layers):
            if "weight" in layer.params:
                activated = index + 1 < len(layers) and hasattr(layers[index + 1], "kind")
                output_index = index + 2 if activated else index + 1
                values = trace[output_index][picks]
                if output_index == len(layers) and self.task != "regression":
                    values = self.loss.output(values)
                owners.append(index)
                blocks.append(values)
        grids = np.concatenate(blocks, axis=1).T.reshape(-1, m, m)
        entries: list[dict[str, Any]] = [
            {"layer": owner, "unit": j}
            for owner, block in zip(owners, blocks, strict=True)
            for j in range(block.shape[1])
        ]
        for entry, quantized in zip(entries, tm.quantize_each(grids), strict=True):
            entry["z"] = quantized
        for entry, name in zip(entries, self.dataset.feature_names or [], strict=False):
            entry["name"] = name
        return entries

    def _is_small_dense(self) -> bool:
        shapes = self.model.output_shapes
        flat = all(len(shape) == 1 for shape in shapes)
        hidden = sum(shapes[i][0] for i, layer in enumerate(self.model.layers) if layer.params)
        return flat and hidden <= self.telemetry.max_neurons

    def _grid_inputs(self, n: int) -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
        if n not in self._grids:
            xs, ys, points = tm.grid_points(self.dataset.domain, n)
            names = self.dataset.feature_names or []
            features = np.asarray(expand_features(points, names), dtype=self.dtype)
            self._grids[n] = tm.encode(xs), tm.encode(ys), features
        return self._grids[n]
