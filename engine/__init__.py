"""nnplay's training engine: pure NumPy, no web imports."""

from engine.config import RunConfig
from engine.datasets import ArrayDataset
from engine.model import Model
from engine.plan import Plan, plan
from engine.trainer import EpochRecord, Trainer

__all__ = ["ArrayDataset", "EpochRecord", "Model", "Plan", "RunConfig", "Trainer", "plan"]
