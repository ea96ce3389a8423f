"""The FastAPI app: `create_app(settings)` for tests and embedding, module-level `app` for uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from server import __version__, errors, static
from server.manager import RunManager
from server.middleware import BodyLimitMiddleware, CrossSiteMiddleware, TokenMiddleware
from server.pool import ProcessExecutor
from server.routes import catalog, continuation, datasets, health, lab, plan, preview, runs, stream, sweeps
from server.settings import Settings
from server.store import Store
from server.sweeps import SweepManager
from server.worker import import_plugins

DESCRIPTION = """Train neural networks with nnplay's NumPy engine and watch them learn.

Create a run with `POST /api/runs` (a RunConfig), follow it on the websocket `/api/runs/{id}/stream`,
and control it with `POST /api/runs/{id}/control`. `GET /api/catalog` lists every layer, activation,
initializer, loss, optimizer, schedule and dataset with its parameters."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; ValueError naming the module when one of NNPLAY_PLUGINS cannot be imported."""
    settings = settings or Settings()
    import_plugins(settings.plugins)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(
            settings.database, settings.write_interval, settings.max_storage_mb, settings.max_run_storage_mb
        )
        if settings.executor == "dask":
            from server.dask_executor import DaskExecutor

            executor = DaskExecutor(
                settings.max_runs,
                settings.dask_scheduler,
                settings.dask_callback_host,
                settings.dask_heartbeat_seconds,
                settings.plugins,
            )
        else:
            executor = ProcessExecutor(
                settings.max_runs, settings.kill_grace_seconds, settings.worker_nice, settings.plugins
            )
        manager = RunManager(settings, store, executor)
        await manager.start()
        app.state.manager = manager
        app.state.sweeps = SweepManager(manager)
        await app.state.sweeps.start()
        try:
            yield
        finally:
            await app.state.sweeps.close()
            await manager.close()

    app = FastAPIOffline(title="nnplay", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.lab_limiter = anyio.CapacityLimiter(settings.lab_concurrency)
    app.state.csv_limiter = anyio.CapacityLimiter(settings.csv_concurrency)
    app.state.preview_limiter = anyio.CapacityLimiter(settings.preview_concurrency)
    errors.install(app)
    for module in (runs, continuation, stream, datasets, catalog, health, lab, plan, preview, sweeps):
        app.include_router(module.router)
    static.install(app, settings.web_dir)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=1)
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_request_bytes,
        upload_limit=settings.max_upload_bytes,
        timeout=settings.body_timeout_seconds,
    )
    app.add_middleware(CrossSiteMiddleware, cors_origins=settings.cors_origins)
    app.add_middleware(TokenMiddleware, token=settings.token)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, www_redirect=False)
    return app


app = create_app()
