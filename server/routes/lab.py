"""/api/lab: the activation, optimizer-race, initialization and loss-landscape explorers; the experiments."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import anyio
import numpy as np
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine import activations, backprop, conv_arithmetic, experiments, initializers, lab, telemetry
from engine.config import MAX_SAMPLES, ConstantLR, OptimizerConfig, RunConfig, ScheduleConfig
from engine.plan import PlanError
from engine.trainer import Trainer
from server.deps import ManagerDep
from server.errors import ApiError, not_found
from server.predict import load_npz
from server.ratelimit import run_limited
from server.schemas import ErrorPublic

router = APIRouter(prefix="/api/lab", tags=["lab"])

SurfaceName = Literal["quadratic", "rosenbrock", "saddle", "himmelblau", "beale", "two_valleys"]
Coordinate = Annotated[float, Field(ge=-1000, le=1000, strict=True)]
Spec = str | dict[str, Any]
MAX_LANDSCAPE_POINTS = 2000
LANDSCAPE_BUDGET = 2e10
NOT_FOUND = {404: {"model": ErrorPublic, "description": "no such experiment or run"}}
BUSY = {429: {"model": ErrorPublic, "description": "too many lab computations are waiting"}}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class RaceRequest(Strict):
    """Optimizers racing from one start on a 2-D surface; no optimizers: the six defaults tuned for it."""

    surface: SurfaceName = "rosenbrock"
    optimizers: dict[Annotated[str, Field(max_length=40)], OptimizerConfig] | None = Field(
        None, min_length=1, max_length=8
    )
    steps: int = Field(300, ge=1, le=2000)
    start: tuple[Coordinate, Coordinate] | None = Field(None, strict=False, description="a JSON array (x, y)")
    schedule: ScheduleConfig = Field(default_factory=ConstantLR)
    grid: int = Field(81, ge=10, le=201, description="contour grid points per side")


class RaceCheckRequest(Strict):
    """A surface's race check (saddle: escape steps; two_valleys: which minimum) from seeded starts."""

    surface: SurfaceName = "saddle"
    seed: int = Field(0, ge=0, le=2**32 - 1)


class ConvRequest(Strict):
    """conv2d (one filter) then maxpool2d on a height x width input: output sizes and window positions."""

    height: int = Field(4, ge=1, le=64)
    width: int = Field(4, ge=1, le=64)
    kernel_size: int = Field(3, ge=1, le=11)
    padding: int = Field(0, ge=0, le=5)
    stride: int = Field(1, ge=1, le=8)
    pool_size: int = Field(2, ge=1, le=8)
    pool_stride: int | None = Field(None, ge=1, le=8, description="default: pool_size")


class PoolShiftRequest(Strict):
    """Digits through conv + ReLU and max pooling, shifted right by 0 to 3 pixels."""

    seed: int = Field(0, ge=0, le=2**32 - 1)
    pool_size: int = Field(2, ge=1, le=4)


class InitRequest(Strict):
    """A deep (dense, activation) stack at initialization: one forward and one backward pass."""

    depth: int = Field(10, ge=1, le=20)
    width: int = Field(256, ge=2, le=512)
    activation: Spec = "tanh"
    initializer: Spec = Field("xavier", description=f"a spec or a preset: {', '.join(lab.INIT_PRESETS)}")
    batch: int = Field(256, ge=8, le=512)
    bins: int = Field(30, ge=5, le=100)
    seed: int = Field(0, ge=0, le=2**32 - 1)

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, spec: Spec) -> Spec:
        activations.get(spec)
        return spec

    @field_validator("initializer")
    @classmethod
    def _known_initializer(cls, spec: Spec) -> Spec:
        if not (isinstance(spec, str) and spec in lab.INIT_PRESETS):
            initializers.get(spec)
        return spec


class LandscapeRequest(Strict):
    """The loss around a run's current weights along filter-normalised random directions."""

    run_id: str = Field(min_length=1, max_length=64)
    directions: Literal[1, 2] = 2
    n: int = Field(21, ge=5, le=41)
    span: float = Field(1.0, gt=0, le=10)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    path: bool = Field(True, description="project the recorded weights of every heavy epoch")
    basis: Literal["auto", "pca", "random"] = Field(
        "auto", description="pca: the path's main directions; random: filter-normalised; auto: pca if a path"
    )


class BackpropRequest(Strict):
    """A small dense net (a config, or a run with its latest weights) on one training example."""

    config: RunConfig | None = Field(None, description="the net with its seed's initial weights")
    run_id: str | None = Field(None, min_length=1, max_length=64, description="a run: its config and weights")
    example: int = Field(0, ge=0, le=MAX_SAMPLES, description="index into the training set")


class ExperimentRun(Strict):
    epochs: int | None = Field(None, ge=1, le=500)
    seed: int = Field(0, ge=0, le=2**32 - 1)


@router.get("")
def read_lab() -> dict[str, Any]:
    """What the explorers offer: activation groups, surfaces with their default racers, init presets."""
    surfaces = {}
    for name in lab.SURFACES:
        surface = lab.get_surface(name)
        surfaces[name] = {
            "doc": (type(surface).__doc__ or "").split("\n")[0],
            "box": list(surface.box),
            "start": list(surface.start),
            "minima": [list(m) for m in surface.minima],
            "log_scale": surface.log_scale,
            "racers": lab.default_racers(name),
            "check": name in lab.RACE_CHECKS,
        }
    return {
        "activation_groups": lab.ACTIVATION_GROUPS,
        "activations": [*activations.ACTIVATIONS, "maxout"],
        "maxout": lab.MAXOUT_PIECES,
        "surfaces": surfaces,
        "init_presets": lab.INIT_PRESETS,
        "notes_vs_torch": lab.NOTES_VS_TORCH,
        "backprop_presets": backprop.PRESETS,
        "conv_examples": conv_arithmetic.NOTES_EXAMPLES,
    }


async def _compute(request: Request, function, *args) -> Any:
    """function(*args) in a thread, NNPLAY_LAB_CONCURRENCY at a time; 429 past NNPLAY_LAB_QUEUE waiting."""
    limiter, settings = request.app.state.lab_limiter, request.app.state.settings
    waiting = "lab computations are waiting (NNPLAY_LAB_QUEUE)"
    return await run_limited(limiter, settings.lab_queue, waiting, function, *args)


def _spec(text: str) -> Spec:
    text = text.strip()
    return json.loads(text) if text.startswith("{") else text


@router.get("/activations")
def read_activations(
    spec: list[str] = Query(
        ["sigmoid", "tanh", "relu"],
        max_length=8,
        description='a name, or a JSON object such as {"name": "elu", "alpha": 0.5}',
    ),
    x_min: float = Query(-6.0, ge=-50, le=50),
    x_max: float = Query(6.0, ge=-50, le=50),
    n: int = Query(401, ge=11, le=2001),
) -> dict[str, Any]:
    """f(x) and f'(x) of each activation with its saturating and zero-gradient intervals."""
    if x_min >= x_max:
        raise ApiError(422, "x_min must be less than x_max", loc=["query", "x_max"])
    try:
        specs = [_spec(s) for s in spec]
        return lab.activation_curves(specs, x_min, x_max, n)
    except (ValueError, TypeError) as error:
        raise ApiError(422, str(error), loc=["query", "spec"]) from None
    except RecursionError:
        raise ApiError(422, "spec is nested too deeply", loc=["query", "spec"]) from None


@router.post("/race", responses=BUSY)
async def create_race(body: RaceRequest, request: Request) -> dict[str, Any]:
    """The engine's optimizers stepping on the surface's gradient, with the contour grid to draw them on."""
    return await _compute(request, _race, body)


def _race(body: RaceRequest) -> dict[str, Any]:
    racers = None if body.optimizers is None else {k: v.model_dump() for k, v in body.optimizers.items()}
    result = lab.race(body.surface, racers, body.steps, body.start, body.schedule.model_dump())
    return {**result, "grid": lab.surface_grid(body.surface, body.grid)}


@router.post("/race/check", responses=BUSY)
async def create_race_check(body: RaceCheckRequest, request: Request) -> dict[str, Any]:
    """The surface's check from the seed's starts: saddle escape steps, or the minimum each one reaches."""
    if body.surface not in lab.RACE_CHECKS:
        checked = " and ".join(lab.RACE_CHECKS)
        raise ApiError(422, f"surface {body.surface!r} has no check; {checked} do", loc=["body", "surface"])
    return await _compute(request, lab.RACE_CHECKS[body.surface], body.seed)


@router.post("/conv", responses=BUSY)
async def create_conv(body: ConvRequest, request: Request) -> dict[str, Any]:
    """Output sizes by floor((n + 2p - k) / s) + 1, every window's position, and the engine layers' shapes."""
    try:
        return await _compute(request, lambda: conv_arithmetic.conv_arithmetic(**body.model_dump()))
    except ValueError as error:
        field = str(error).split()[0]
        raise ApiError(422, str(error), loc=["body", field]) from None


@router.post("/pool-shift", responses=BUSY)
async def create_pool_shift(body: PoolShiftRequest, request: Request) -> dict[str, Any]:
    """How much a 1-pixel shift changes conv feature maps before and after max pooling, with its check."""
    return await _compute(request, conv_arithmetic.shift_tolerance, body.seed, 64, 8, body.pool_size)


@router.post("/init", responses=BUSY)
async def create_init(body: InitRequest, request: Request) -> dict[str, Any]:
    """Per-layer activation statistics and histograms and weight-gradient norms at initialization."""
    try:
        return await _compute(request, lambda: lab.init_stats(**body.model_dump()))
    except ValueError as error:
        raise ApiError(422, str(error), loc=["body", "initializer"]) from None


def _backprop(config: dict, weights: bytes | None, csv_text: str | None, body: BackpropRequest) -> dict:
    source = ["body", "config"] if body.run_id is None else ["body", "run_id"]
    try:
        state = None if weights is None else load_npz(weights)
        return backprop.backprop(config, body.example, state, csv_text)
    except PlanError as error:
        loc = ["body", "example"] if error.field == ("example",) else [*source, *error.field]
        raise ApiError(422, str(error), loc=loc) from None
    except ValueError as error:
        raise ApiError(422, str(error), loc=source) from None


@router.post("/backprop", responses=NOT_FOUND | BUSY)
async def create_backprop(body: BackpropRequest, manager: ManagerDep, request: Request) -> dict[str, Any]:
    """Backprop step by step: the net's graph on one example, with values, local derivatives and gradients."""
    if body.config is not None and body.run_id is not None:
        raise ApiError(422, "give a config or a run_id, not both", loc=["body", "run_id"])
    weights = None
    config = (body.config or RunConfig()).model_dump(mode="json")
    if body.run_id is not None:
        config = (await manager.read(body.run_id))["config"]
        weights = await manager.weights(body.run_id)
    csv_text = None
    if config["data"]["dataset"] == "csv":
        dataset = await anyio.to_thread.run_sync(manager.store.get_dataset, config["data"]["csv_id"])
        if dataset is None:
            message = "the uploaded dataset no longer exists"
            raise ApiError(422, message, loc=["body", "config", "data", "csv_id"])
        csv_text = dataset["csv"]
    return await _compute(request, _backprop, config, weights, csv_text, body)


@router.get("/experiments")
def read_experiments() -> list[dict[str, Any]]:
    """Every experiment with its claim and the run configs to load into the playground or POST /api/runs."""
    return [
        {
            "name": name,
            "title": e["title"],
            "claim": e["claim"],
            "configs": {label: c for label, c in e["configs"].items() if label not in e.get("lab_only", ())},
            "notes_vs_torch": [lab.NOTES_VS_TORCH[key] for key in e.get("notes_vs_torch", ())],
        }
        for name, e in experiments.EXPERIMENTS.items()
    ]


@router.post("/experiments/{name}/run", responses=NOT_FOUND | BUSY)
async def run_experiment(name: str, request: Request, body: ExperimentRun | None = None) -> dict[str, Any]:
    """Train the experiment's configs here and check its claim: the verdict and each run's curves."""
    if name not in experiments.EXPERIMENTS:
        raise not_found("experiment", name)
    body = body or ExperimentRun()
    result = await _compute(request, experiments.run_experiment, name, body.epochs, body.seed)
    runs = {label: experiments.history(run) for label, run in result["runs"].items()}
    return {
        "name": name,
        "title": result["title"],
        "claim": result["claim"],
        "seed": result["seed"],
        "verdict": result["verdict"],
        "runs": runs,
        "figures": result["figures"],
    }


def _path(model, records: list[str]) -> tuple[list[int], list[np.ndarray]]:
    """The epochs whose records hold every weight, and those weights flattened as model.parameters()."""
    keys = [(str(i), key) for i, layer in enumerate(model.layers) for key in layer.params]
    epochs, path = [], []
    for text in records:
        record = json.loads(text)
        weights = record.get("weights") or {}
        if all(index in weights and key in weights[index] for index, key in keys):
            epochs.append(record["epoch"])
            path.append(np.concatenate([telemetry.decode(weights[i][key]).ravel() for i, key in keys]))
    return epochs, path


def _landscape(
    config: dict, csv_text: str | None, weights: bytes, records: list[str], body: LandscapeRequest
) -> dict:
    trainer = Trainer(config, csv_text=csv_text)
    try:
        trainer.model.load_state_dict(load_npz(weights))
    except ValueError as error:
        raise ApiError(409, f"the run's weights cannot be used: {error}") from None
    grid = body.n**body.directions
    points = int(np.clip(LANDSCAPE_BUDGET // (grid * trainer.model.num_parameters), 64, MAX_LANDSCAPE_POINTS))
    data = trainer.x_train[:points], trainer.y_train[:points]
    epochs, path = _path(trainer.model, records)
    basis = body.basis
    if basis == "auto":
        basis = "pca" if len(path) >= 2 else "random"
    elif basis == "pca" and len(path) < 2:
        message = "basis 'pca' needs the weights of at least 2 recorded epochs"
        raise ApiError(422, message, loc=["body", "basis"])
    try:
        result = lab.loss_landscape(
            trainer,
            data,
            directions=body.directions,
            n=body.n,
            span=body.span,
            seed=body.seed,
            path=path or None,
            basis=basis,
        )
    except ValueError as error:
        raise ApiError(422, str(error), loc=["body", "basis"]) from None
    return {**result, "epochs": epochs, "points": len(data[0])}


@router.post("/landscape", responses=NOT_FOUND | BUSY)
async def create_landscape(body: LandscapeRequest, manager: ManagerDep, request: Request) -> dict[str, Any]:
    """The loss on a slice through a run's weights, with its recorded training path projected on it."""
    run = await manager.read(body.run_id)
    weights = await manager.weights(body.run_id)
    records = await manager.read_epochs(body.run_id, True) if body.path else []
    config = run["config"]
    csv_text = None
    if config["data"]["dataset"] == "csv":
        dataset = await anyio.to_thread.run_sync(manager.store.get_dataset, config["data"]["csv_id"])
        if dataset is None:
            raise ApiError(409, "the run's uploaded dataset no longer exists")
        csv_text = dataset["csv"]
    result = await _compute(request, _landscape, config, csv_text, weights, records, body)
    return {"run_id": body.run_id, **result}
