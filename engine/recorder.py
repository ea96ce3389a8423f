"""The telemetry recorder: when an epoch gets heavy fields, and those fields computed on the model.

Each heavy field of the epoch record is declared once, in HEAVY_FIELDS: its TelemetryConfig switch, how
the recorder computes it, and its bytes in the plan's memory estimate. The record (`EpochRecord`), the
plan, the server's scalars/heavy split and the browser's decoding derive from that registry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import telemetry as tm
from engine.config import TelemetryConfig
from engine.datasets import ArrayDataset, expand_features
from engine.losses import Loss
from engine.model import Model

if TYPE_CHECKING:
    from engine.plan import Plan

HEAVY_RECORDS_PER_RUN = 200


@functools.cache
def thumbnail_picks(n: int, m: int) -> np.ndarray:
    """Indices into an n x n grid of the m x m points a thumbnail samples."""
    rows = np.linspace(0, n - 1, m).round().astype(np.intp)
    return (rows[:, None] * n + rows[None, :]).ravel()


def has_plane(data: ArrayDataset) -> bool:
    """Whether the inputs are points of a plane that the boundary and neuron grids cover."""
    return data.domain is not None and bool(data.feature_names)


@dataclass(frozen=True)
class HeavyField:
    """One heavy field of the epoch record.

    compute(recorder, snapshot): the field's JSON-ready value, its arrays as `telemetry.encode` or
    `telemetry.quantize` envelopes (the browser decodes every envelope it finds), or None when the run
    has nothing to show; size(telemetry, plan, data): the bytes of one value in its encoding;
    switch: the TelemetryConfig flag that turns the field off (None: always on).
    """

    compute: Callable[[Recorder, Snapshot], Any]
    size: Callable[[TelemetryConfig, Plan, ArrayDataset], int]
    switch: str | None = None

    def enabled(self, telemetry: TelemetryConfig) -> bool:
        return self.switch is None or bool(getattr(telemetry, self.switch))


class Snapshot:
    """The model at an epoch's end as the heavy fields read it; each costly pass runs at most once.

    `before` holds the parameters before the epoch's last update (None when they were not kept).
    """

    def __init__(
        self, recorder: Recorder, before: list[np.ndarray] | None, probe_trace: list[np.ndarray] | None
    ):
        self.recorder = recorder
        self.before = before
        self._probe_trace = probe_trace

    @functools.cached_property
    def probe_trace(self) -> list[np.ndarray]:
        """Every layer's output on the probe batch, `model.trace(probe)`."""
        if self._probe_trace is not None:
            return self._probe_trace
        return self.recorder.model.trace(self.recorder.probe)

    @functools.cached_property
    def plane(self) -> tuple[dict[str, Any], dict[str, Any], list[np.ndarray]]:
        """The grid_size x grid_size input plane: its encoded x and y axes, every layer's output over it."""
        xs, ys, inputs = self.recorder.grid_inputs(self.recorder.telemetry.grid_size)
        return xs, ys, self.recorder.model.trace(inputs)


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
        self._peaks: dict[int, float | None] = {}

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
        """The record's heavy part: each declared heavy field, computed now when switched on, else None.

        `before` holds the parameters before the epoch's last update; `probe_trace` is
        `model.trace(probe)` when the caller has it (the trainer's evaluation does).
        """
        snapshot = Snapshot(self, before, probe_trace)
        heavy = {
            name: field.compute(self, snapshot) if field.enabled(self.telemetry) else None
            for name, field in HEAVY_FIELDS.items()
        }
        return {"heavy": True, **heavy}

    def layer_rows(self, snapshot: Snapshot) -> list[dict[str, Any]]:
        """Per layer: histograms of weights, gradients and activations, norms, dead and saturated units."""
        t = self.telemetry
        before = snapshot.before
        trace = snapshot.probe_trace if t.activations else None
        rows = []
        summarized: list[tuple[dict[str, Any], str, np.ndarray]] = []

        def summarize(row: dict[str, Any], key: str, values: np.ndarray) -> None:
            row[key] = None
            summarized.append((row, key, values))

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
                        summarize(row, "weight", weight)
                        if "weight" in layer.grads:
                            summarize(row, "grad", layer.grads["weight"])
                    if before is not None:
                        old = before[position + list(params).index("weight")]
                        norm = tm.l2_norm([old])
                        row["update_ratio"] = tm.l2_norm([weight - old]) / norm if norm > 0 else None
                position += len(params)
            if trace is not None and hasattr(layer, "kind"):
                x, y = trace[index], trace[index + 1]
                if t.histograms:
                    summarize(row, "activation", y)
                if index not in self._peaks:
                    self._peaks[index] = tm.saturation_peak(layer, x.dtype)
                row["dead_fraction"], row["saturated_fraction"] = tm.unit_fractions(
                    layer, x, y, self._peaks[index]
                )
            rows.append(row)
        summaries = tm.stats_many([values for _, _, values in summarized], t.bins)
        for (row, key, _), summary in zip(summarized, summaries, strict=True):
            row[key] = summary
        return rows

    def boundary(self, snapshot: Snapshot) -> dict[str, Any] | None:
        """Over the input plane: the output at each point (a value, a probability or a class)."""
        if not has_plane(self.dataset):
            return None
        n = self.telemetry.grid_size
        xs, ys, trace = snapshot.plane
        output = trace[-1]
        if self.task == "regression":
            z, kind = output[:, 0], "value"
        elif output.shape[1] == 1:
            z, kind = self.loss.output(output)[:, 0], "probability"
        else:
            z, kind = np.argmax(output, axis=1).astype(np.float64), "class"
        return {"x": xs, "y": ys, "z": tm.quantize(z.reshape(n, n)), "kind": kind}

    def neurons(self, snapshot: Snapshot) -> list[dict[str, Any]] | None:
        """For small dense nets over the input plane: each feature's and unit's output as a thumbnail."""
        if not (has_plane(self.dataset) and self._is_small_dense()):
            return None
        n = self.telemetry.grid_size
        return self.neuron_grids(snapshot.plane[2], n, min(self.telemetry.neuron_grid_size, n))

    def weights(self, snapshot: Snapshot) -> dict[str, Any]:
        """Every parameter of the layers whose weight has at most `max_weights` values, by layer index."""
        return {
            str(index): {key: tm.encode(value, lists=True) for key, value in layer.params.items()}
            for index, layer in enumerate(self.model.layers)
            if "weight" in layer.params and layer.params["weight"].size <= self.telemetry.max_weights
        }

    def feature_maps(self, snapshot: Snapshot) -> dict[str, Any] | None:
        """For image inputs: the first probe sample and each image-shaped layer output on it, (c, h, w)."""
        if len(self.probe.shape) != 4:
            return None
        trace = [output[:1] for output in snapshot.probe_trace]
        return {
            "input": tm.encode(trace[0][0]),
            "label": self.probe_targets[0].tolist(),
            "layers": [
                {"layer": index, "type": type(layer).__name__.lower(), "maps": tm.encode(trace[index + 1][0])}
                for index, layer in enumerate(self.model.layers)
                if trace[index + 1].ndim == 4
            ],
        }

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
        for entry, quantized in zip(entries, tm.quantize_each(grids, lists=True), strict=True):
            entry["z"] = quantized
        for entry, name in zip(entries, self.dataset.feature_names or [], strict=False):
            entry["name"] = name
        return entries

    def _is_small_dense(self) -> bool:
        shapes = self.model.output_shapes
        flat = all(len(shape) == 1 for shape in shapes)
        hidden = sum(shapes[i][0] for i, layer in enumerate(self.model.layers) if layer.params)
        return flat and hidden <= self.telemetry.max_neurons

    def grid_inputs(self, n: int) -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
        """An n x n grid over the data's domain: encoded x and y axes, and its points as model inputs."""
        if n not in self._grids:
            if self.dataset.domain is None:
                raise ValueError("the dataset has no input plane (its domain is None)")
            xs, ys, points = tm.grid_points(self.dataset.domain, n)
            names = self.dataset.feature_names or []
            features = np.asarray(expand_features(points, names), dtype=self.dtype)
            self._grids[n] = tm.encode(xs), tm.encode(ys), features
        return self._grids[n]


def _summaries_size(telemetry: TelemetryConfig, planned: Plan, data: ArrayDataset) -> int:
    """Per-layer statistics are a few small arrays: the plan's RECORD_BASELINE covers them."""
    return 0


def _boundary_size(telemetry: TelemetryConfig, planned: Plan, data: ArrayDataset) -> int:
    return telemetry.grid_size**2 * tm.QUANTIZED_VALUE if has_plane(data) else 0


def _neurons_size(telemetry: TelemetryConfig, planned: Plan, data: ArrayDataset) -> int:
    units = sum(layer.output_shape[0] for layer in planned.layers if layer.parameters)
    if not (has_plane(data) and units <= telemetry.max_neurons):
        return 0
    thumbnails = planned.input_shape[0] + units
    return thumbnails * min(telemetry.neuron_grid_size, telemetry.grid_size) ** 2 * tm.QUANTIZED_VALUE


def _weights_size(telemetry: TelemetryConfig, planned: Plan, data: ArrayDataset) -> int:
    values = sum(
        layer.num_parameters
        for layer in planned.layers
        if "weight" in layer.parameters and np.prod(layer.parameters["weight"]) <= telemetry.max_weights
    )
    return values * tm.ENCODED_VALUE


def _feature_maps_size(telemetry: TelemetryConfig, planned: Plan, data: ArrayDataset) -> int:
    if len(planned.input_shape) != 3:
        return 0
    images = [planned.input_shape, *(layer.output_shape for layer in planned.layers)]
    return sum(int(np.prod(shape)) for shape in images if len(shape) == 3) * tm.ENCODED_VALUE


HEAVY_FIELDS: dict[str, HeavyField] = {
    "layers": HeavyField(Recorder.layer_rows, _summaries_size),
    "boundary": HeavyField(Recorder.boundary, _boundary_size, "boundary"),
    "neurons": HeavyField(Recorder.neurons, _neurons_size, "neurons"),
    "weights": HeavyField(Recorder.weights, _weights_size, "weights"),
    "feature_maps": HeavyField(Recorder.feature_maps, _feature_maps_size, "feature_maps"),
}


def light_fields() -> dict[str, Any]:
    """A record's heavy part when the epoch has none: every declared heavy field None."""
    return {"heavy": False, **dict.fromkeys(HEAVY_FIELDS)}


def telemetry_bytes(telemetry: TelemetryConfig, planned: Plan, data: ArrayDataset) -> int:
    """The heavy fields of one record in their encoding: the sum of each switched-on field's size."""
    return sum(
        field.size(telemetry, planned, data) for field in HEAVY_FIELDS.values() if field.enabled(telemetry)
    )
