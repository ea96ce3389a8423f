import numpy as np
import pytest

from engine import Trainer, checkpoint

TIMES = {"wall_time", "elapsed", "t_end"}


def config(dtype: str, **training) -> dict:
    """Shuffled mini-batches, dropout, batchnorm, rrelu, Adam, a step schedule and L2: every kind of state."""
    return {
        "dtype": dtype,
        "seed": 7,
        "data": {"dataset": "circle", "n_samples": 120, "validation": 0.2},
        "model": {
            "layers": [
                {"type": "dense", "units": 8},
                {"type": "batchnorm"},
                {"type": "activation", "name": "rrelu"},
                {"type": "dropout", "p": 0.3},
                {"type": "dense", "units": 6, "activation": "tanh"},
            ]
        },
        "optimizer": {"name": "adam", "lr": 0.02},
        "schedule": {"name": "step", "step_size": 3, "gamma": 0.7},
        "regularization": {"penalty": "l2", "rate": 0.001},
        "training": {"epochs": 12, "batch_size": 16, "shuffle": True, **training},
        "telemetry": {"every": 4, "bins": 5, "probe_size": 8, "grid_size": 10, "neuron_grid_size": 4},
    }


def numbers(records) -> list[dict]:
    return [record.model_dump(exclude=TIMES) for record in records]


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


def resumed_after(cfg: dict, k: int, through_bytes: bool) -> tuple[Trainer, list]:
    first = Trainer(cfg)
    epochs = first.epochs()
    for _ in range(k):
        next(epochs)
    state = first.state()
    if through_bytes:
        state = checkpoint.to_bytes(state)
    resumed = Trainer.restore(cfg, state)
    return resumed, list(resumed.epochs())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("through_bytes", [False, True])
def test_a_resumed_run_equals_the_uninterrupted_run_bit_for_bit(dtype, through_bytes):
    cfg = config(dtype)
    whole = Trainer(cfg)
    records = list(whole.epochs())
    resumed, later = resumed_after(cfg, 5, through_bytes)
    assert [r.epoch for r in later] == list(range(6, 13))
    assert numbers(later) == numbers(records[5:])
    assert_same_state(resumed.model.state_dict(), whole.model.state_dict())
    assert_same_state(resumed.optimizer.state_arrays(), whole.optimizer.state_arrays())
    assert resumed.status == whole.status == "completed"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_early_stopping_state_survives_a_resume(dtype):
    early = {"patience": 2, "min_delta": 0.01, "monitor": "val_loss", "restore_best": True}
    cfg = config(dtype, epochs=40, early_stopping=early)
    whole = Trainer(cfg)
    records = list(whole.epochs())
    assert "early stopping" in records[-1].message and "restored" in records[-1].message and len(records) > 9
    resumed, later = resumed_after(cfg, 8, through_bytes=True)
    assert numbers(later) == numbers(records[8:])
    assert_same_state(resumed.model.state_dict(), whole.model.state_dict())


def test_a_completed_run_continues_for_more_epochs_as_if_it_had_been_longer():
    longer = Trainer(config("float64", epochs=16))
    records = list(longer.epochs())
    short = Trainer(config("float64"))
    list(short.epochs())
    continued = Trainer.restore(config("float64", epochs=16), checkpoint.to_bytes(short.state()))
    assert continued.status == "running"
    later = list(continued.epochs())
    assert numbers(later) == numbers(records[12:])
    assert_same_state(continued.model.state_dict(), longer.model.state_dict())


def test_a_user_set_learning_rate_is_part_of_the_state():
    cfg = config("float32")
    first = Trainer(cfg)
    epochs = first.epochs()
    next(epochs)
    first.set_lr(0.005)
    resumed = Trainer.restore(cfg, first.state())
    assert numbers(resumed.epochs()) == numbers(epochs)


def test_without_the_rng_states_the_resumed_numbers_differ():
    cfg = config("float64")
    records = list(Trainer(cfg).epochs())
    first = Trainer(cfg)
    epochs = first.epochs()
    for _ in range(5):
        next(epochs)
    state = first.state()
    state["shuffle_rng"] = Trainer(cfg)._shuffle_rng.bit_generator.state
    later = list(Trainer.restore(cfg, state).epochs())
    assert numbers(later) != numbers(records[5:])


def test_bad_checkpoints_are_value_errors_naming_the_problem():
    cfg = config("float32")
    trainer = Trainer(cfg)
    state = trainer.state()
    with pytest.raises(ValueError, match="npz"):
        Trainer.restore(cfg, b"not a checkpoint")
    with pytest.raises(ValueError, match="dtype"):
        Trainer.restore(config("float64"), state)
    with pytest.raises(ValueError, match="training.epochs"):
        Trainer.restore(cfg, {**state, "epoch": 99})
    missing = {**state, "arrays": {k: v for k, v in state["arrays"].items() if k != "model/0.weight"}}
    with pytest.raises(ValueError, match="0.weight"):
        Trainer.restore(cfg, missing)
