"""Trainer checkpoints: what later epochs depend on, taken at an epoch boundary and restored bit for bit.

A state is a dict of JSON-able scalars plus `arrays` (name -> NumPy array): the model's state_dict
(parameters and batchnorm buffers), the optimizer's step count and state vectors, and the early-stopping
best weights. RNG states (shuffle, and the model's generator that dropout and rrelu draw from) are the
bit generators' state dicts. `to_bytes`/`from_bytes` give the compact npz form.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engine.trainer import Trainer

FORMAT = 1
META_KEY = "__meta__"
CONTINUABLE = ("running", "completed", "stopped")


def capture(trainer: Trainer) -> dict[str, Any]:
    """The trainer's state between epochs: scalars plus `arrays` of copies."""
    best, best_epoch, best_state = trainer.early_state
    arrays = {f"model/{key}": value for key, value in trainer.model.state_dict().items()}
    arrays.update({f"optimizer/{key}": value for key, value in trainer.optimizer.state_arrays().items()})
    if best_state is not None:
        arrays.update({f"best/{key}": value.copy() for key, value in best_state.items()})
    return {
        "format": FORMAT,
        "dtype": trainer.dtype.name,
        "epoch": trainer.epoch,
        "status": trainer.status,
        "message": trainer.message,
        "base_lr": trainer.base_lr,
        "regularization_rate": trainer.regularization_rate,
        "best": best,
        "best_epoch": best_epoch,
        "has_best_state": best_state is not None,
        "shuffle_rng": trainer._shuffle_rng.bit_generator.state,
        "model_rng": trainer._model_rng.bit_generator.state,
        "arrays": arrays,
    }


def _section(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}


def apply(trainer: Trainer, state: dict[str, Any]) -> None:
    """Put `state` into a freshly built trainer of the same config (its epochs may be more, to continue)."""
    if state.get("format") != FORMAT:
        raise ValueError(f"checkpoint format must be {FORMAT}, got {state.get('format')!r}")
    if state["dtype"] != trainer.dtype.name:
        raise ValueError(f"checkpoint dtype is {state['dtype']}, the run's dtype is {trainer.dtype.name}")
    epoch = int(state["epoch"])
    if not 0 <= epoch <= trainer.config.training.epochs:
        raise ValueError(
            f"checkpoint is at epoch {epoch}, beyond training.epochs ({trainer.config.training.epochs})"
        )
    arrays = state["arrays"]
    trainer.model.load_state_dict(_section(arrays, "model/"))
    trainer.optimizer.load_state_arrays(
        _section(arrays, "optimizer/"), trainer.model.parameters(), trainer.model.gradients()
    )
    best_state = _section(arrays, "best/") if state["has_best_state"] else None
    trainer.early_state = float(state["best"]), int(state["best_epoch"]), best_state
    trainer._shuffle_rng.bit_generator.state = state["shuffle_rng"]
    trainer._model_rng.bit_generator.state = state["model_rng"]
    trainer.base_lr = float(state["base_lr"])
    trainer.regularization_rate = float(state["regularization_rate"])
    trainer.epoch = epoch
    trainer.status, trainer.message = state["status"], state["message"]
    if trainer.status in CONTINUABLE and epoch < trainer.config.training.epochs:
        trainer.status, trainer.message = "running", None


def to_bytes(state: dict[str, Any]) -> bytes:
    """The state as one npz: its arrays plus the scalars as JSON under META_KEY."""
    meta = {key: value for key, value in state.items() if key != "arrays"}
    buffer = io.BytesIO()
    meta_bytes = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays: dict[str, Any] = {META_KEY: meta_bytes, **state["arrays"]}
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def from_bytes(data: bytes) -> dict[str, Any]:
    """The state that `to_bytes` wrote."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"checkpoint is not a readable npz: {error}") from None
    if META_KEY not in arrays:
        raise ValueError(f"checkpoint has no {META_KEY} entry")
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
    return {**meta, "arrays": arrays}


def epoch_of(data: bytes) -> int:
    """The epoch a checkpoint in bytes form was taken after."""
    return int(from_bytes(data)["epoch"])
