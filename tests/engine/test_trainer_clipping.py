"""training.clip_grad_norm: torch's clip_grad_norm_ before every step, stateless across a resume."""

import numpy as np
import pytest
from pydantic import ValidationError

from engine import RunConfig, Trainer
from engine.trainer import clip_grad_norm
from tests.engine.test_checkpoint import assert_same_state, numbers, resumed_after
from tests.engine.test_checkpoint import config as checkpoint_config

torch = pytest.importorskip("torch")

TOLERANCES = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 1e-4, "atol": 1e-5}}


def clipped(dtype: str, clip: float | None = 0.2) -> dict:
    return {
        "dtype": dtype,
        "seed": 4,
        "data": {"dataset": "circle", "n_samples": 80},
        "model": {"layers": [{"type": "dense", "units": 6, "activation": "tanh"}] * 2},
        "optimizer": {"name": "sgd", "lr": 0.5, "momentum": 0.9},
        "regularization": {"penalty": "l2", "rate": 0.01},
        "training": {"epochs": 4, "batch_size": 8, "shuffle": False, "clip_grad_norm": clip},
    }


def torch_weights(config: dict) -> tuple[dict, list[float]]:
    """The plan's torch model and optimizer trained on the same batches with clip_grad_norm_; its norms."""
    trainer = Trainer(config)
    code = {}
    exec(trainer.plan.torch, code)
    model, loss_fn, optimizer = code["model"], code["loss_fn"], code["optimizer"]
    model.load_state_dict({key: torch.from_numpy(value) for key, value in trainer.model.state_dict().items()})
    x, y = torch.from_numpy(trainer.x_train), torch.from_numpy(trainer.y_train)
    rate, size, norms = config["regularization"]["rate"], config["training"]["batch_size"], []
    for _ in range(config["training"]["epochs"]):
        for start in range(0, len(x), size):
            optimizer.zero_grad()
            weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
            penalty = rate / 2 * sum((w * w).sum() for w in weights)
            (loss_fn(model(x[start : start + size]), y[start : start + size]) + penalty).backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), code["clip_grad_norm"])))
            optimizer.step()
    return {key: value.detach().numpy() for key, value in model.state_dict().items()}, norms


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_training_with_clipping_gives_torchs_weights(dtype):
    config = clipped(dtype)
    expected, norms = torch_weights(config)
    assert sum(n > 0.2 for n in norms) > len(norms) / 2 and min(norms) < 0.2, (
        "most steps, not all, are clipped"
    )
    trainer = Trainer(config)
    records = list(trainer.epochs())
    assert records[-1].status == "completed"
    for key, value in trainer.model.state_dict().items():
        np.testing.assert_allclose(value, expected[key], **TOLERANCES[dtype], err_msg=key)
    unclipped = Trainer(clipped(dtype, clip=None))
    list(unclipped.epochs())
    assert not np.allclose(
        unclipped.model.state_dict()["0.weight"], expected["0.weight"], **TOLERANCES[dtype]
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_clip_grad_norm_is_torchs(dtype):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(shape).astype(dtype) for shape in [(3, 4), (3,), (1, 3), (1,)]]
    for max_norm in (0.5, 1e3):
        ours = [g.copy() for g in grads]
        theirs = [torch.from_numpy(g.copy()) for g in grads]
        for t in theirs:
            t.grad = t.clone()
        total = clip_grad_norm(ours, max_norm)
        expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
        assert total == pytest.approx(float(expected), rel=1e-6)
        for g, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(g, t.grad.numpy(), **TOLERANCES[dtype])
        if max_norm > total:
            assert all(np.array_equal(g, h) for g, h in zip(ours, grads, strict=True))
        else:
            assert np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in ours)) == pytest.approx(
                max_norm, rel=1e-5
            )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_resumed_clipped_run_equals_the_uninterrupted_run_bit_for_bit(dtype):
    cfg = checkpoint_config(dtype, clip_grad_norm=0.05)
    whole = Trainer(cfg)
    records = list(whole.epochs())
    resumed, later = resumed_after(cfg, 5, through_bytes=True)
    assert numbers(later) == numbers(records[5:])
    assert_same_state(resumed.model.state_dict(), whole.model.state_dict())
    unclipped = Trainer(checkpoint_config(dtype))
    assert numbers(list(unclipped.epochs())) != numbers(records)


@pytest.mark.parametrize("value", [0, -1.0, "1", True, float("inf")])
def test_clip_grad_norm_must_be_a_positive_number(value):
    with pytest.raises(ValidationError, match="clip_grad_norm"):
        RunConfig.model_validate({"training": {"clip_grad_norm": value}})
    assert RunConfig.model_validate({"training": {"clip_grad_norm": 1}}).training.clip_grad_norm == 1
