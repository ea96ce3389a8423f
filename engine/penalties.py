"""Weight penalties added to the data loss (weights only, never biases) and the PENALTIES registry."""

from __future__ import annotations

import numpy as np

from engine.registry import lookup
from engine.schema import SpecLike


class Penalty:
    """A penalty on a list of weight arrays: value(weights, rate) -> float, grad(w, rate) -> dPenalty/dw."""

    def value(self, weights: list[np.ndarray], rate: float) -> float:
        raise NotImplementedError

    def grad(self, w: np.ndarray, rate: float) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NoPenalty(Penalty):
    """No penalty: P = 0."""

    def value(self, weights: list[np.ndarray], rate: float) -> float:
        return 0.0

    def grad(self, w: np.ndarray, rate: float) -> np.ndarray:
        return np.zeros_like(w)


class L1(Penalty):
    """Lasso: P = rate * sum |w|; dP/dw = rate * sign(w)."""

    def value(self, weights: list[np.ndarray], rate: float) -> float:
        return float(rate) * sum(float(np.sum(np.abs(w))) for w in weights)

    def grad(self, w: np.ndarray, rate: float) -> np.ndarray:
        return float(rate) * np.sign(w)


class L2(Penalty):
    """Ridge (weight decay): P = rate / 2 * sum w^2; dP/dw = rate * w."""

    def value(self, weights: list[np.ndarray], rate: float) -> float:
        return float(rate) / 2 * sum(float(np.sum(w * w)) for w in weights)

    def grad(self, w: np.ndarray, rate: float) -> np.ndarray:
        return float(rate) * w


PENALTIES: dict[str, type[Penalty]] = {"none": NoPenalty, "l1": L1, "l2": L2}


def get(spec: SpecLike | Penalty) -> Penalty:
    """Return a penalty from a name, a {"name": ...} dict or a Penalty instance."""
    return lookup("penalty", PENALTIES, Penalty, spec)
