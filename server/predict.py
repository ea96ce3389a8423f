"""Predictions from a run's weights, in the main process (call it in a thread)."""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np

from server.errors import ApiError


def load_npz(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def finite_list(array: np.ndarray) -> list:
    """array.tolist() with NaN and infinities as None, so the result is valid JSON."""
    array = np.asarray(array)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        return np.where(np.isfinite(array), array, None).tolist()
    return array.tolist()


class Predictor:
    """A run's model rebuilt from its config; weights are loaded for each call."""

    def __init__(self, config: dict[str, Any], csv_text: str | None):
        from engine.trainer import Trainer

        self.trainer = Trainer(config, csv_text=csv_text)
        self.lock = threading.Lock()

    def inputs(self, rows: list[list[float]]) -> np.ndarray:
        dataset, shape = self.trainer.dataset, tuple(self.trainer.input_shape)
        width = {len(row) for row in rows}
        if len(width) != 1:
            raise ApiError(
                422, "every row of inputs must have the same number of values", loc=["body", "inputs"]
            )
        x = self._in_range(np.asarray(rows, dtype=np.float64), "inputs")
        if dataset.domain is not None and dataset.feature_names:
            if x.shape[1] != 2:
                raise ApiError(
                    422,
                    f"inputs must be raw 2-D points (x1, x2), got rows of {x.shape[1]}",
                    loc=["body", "inputs"],
                )
            from engine.datasets import expand_features

            return self._in_range(expand_features(x, dataset.feature_names), "features")
        size = int(np.prod(shape))
        if x.shape[1] != size:
            raise ApiError(
                422,
                f"each row of inputs must have {size} values (the input shape {shape} flattened), "
                f"got {x.shape[1]}",
                loc=["body", "inputs"],
            )
        if dataset.scaling:
            x = (x - np.asarray(dataset.scaling["x_mean"])) / np.asarray(dataset.scaling["x_std"])
            x = self._in_range(x, "standardized inputs")
        return x.reshape(len(x), *shape)

    def _in_range(self, x: np.ndarray, what: str) -> np.ndarray:
        """x unchanged if every value is finite in the run's dtype; else a 422 naming the first one."""
        largest = float(np.finfo(self.trainer.dtype).max)
        bad = ~(np.abs(x) <= largest)
        if bad.any():
            row, column = (int(i) for i in np.argwhere(bad)[0])
            raise ApiError(
                422,
                f"{what} row {row} column {column} is {x[row, column]:.6g}, out of range for this "
                f"{self.trainer.dtype} run (|value| <= {largest:.6g})",
                loc=["body", "inputs", row],
            )
        return x

    def predict(self, weights: bytes, rows: list[list[float]]) -> dict[str, Any]:
        trainer = self.trainer
        with self.lock:
            try:
                trainer.model.load_state_dict(load_npz(weights))
            except ValueError as error:
                raise ApiError(409, f"the run's weights cannot be used: {error}") from None
            with np.errstate(over="ignore", invalid="ignore"):
                x = self.inputs(rows)
            outputs = trainer.model.predict(x).astype(np.float64)
        result: dict[str, Any] = {"outputs": finite_list(outputs), "task": trainer.task}
        if trainer.task == "regression":
            scaling = trainer.dataset.scaling or {}
            values = outputs
            if "y_mean" in scaling:
                values = outputs * np.asarray(scaling["y_std"]) + np.asarray(scaling["y_mean"])
            result["predictions"] = finite_list(values[:, 0])
            return result
        probabilities = np.asarray(trainer.loss.output(outputs), dtype=np.float64)
        if probabilities.shape[1] == 1:
            probabilities = np.column_stack([1 - probabilities[:, 0], probabilities[:, 0]])
        result["probabilities"] = finite_list(probabilities)
        result["predictions"] = np.argmax(probabilities, axis=1).tolist()
        return result
