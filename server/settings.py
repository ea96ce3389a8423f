"""Server settings from NNPLAY_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ANY_ADDRESS = ("0.0.0.0", "::", "")


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("nnplay", appauthor=False))


def _default_allowed_hosts(data: dict) -> list[str]:
    host = str(data.get("host", "")).lower()
    named = f"[{host}]" if ":" in host else host
    return LOOPBACK_HOSTS + ([named] if host not in ANY_ADDRESS and named not in LOOPBACK_HOSTS else [])


class Settings(BaseSettings):
    """Where the server listens and stores runs, and every limit it enforces."""

    model_config = SettingsConfigDict(env_prefix="NNPLAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(default_factory=_default_data_dir)
    web_dir: Path = WEB_DIR
    max_runs: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    max_queued: int = Field(64, ge=0, description="queued runs beyond the running ones; more get a 429")
    max_controls_per_second: float = Field(
        20.0, gt=0, le=10_000, description="controls per run and second (bursts of twice); more get a 429"
    )
    run_deadline_seconds: float = Field(3600.0, gt=0)
    worker_nice: int = Field(5, ge=0, le=19, description="workers' CPU priority below the server's")
    kill_grace_seconds: float = Field(30.0, gt=0, description="after the deadline, a stuck worker is killed")
    compute_budget: float = Field(2e11, gt=0, description="epochs x train samples x parameters per run")
    max_layers: int = Field(32, ge=1)
    max_units: int = Field(1024, ge=1)
    max_parameters: int = Field(1_000_000, ge=1)
    max_run_memory_mb: float = Field(
        1024.0, gt=0, description="a run's estimated peak memory (engine.plan): bigger runs get a 422"
    )
    max_request_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_csv_columns: int = Field(1000, ge=2, le=1_000_000, description="columns of an uploaded CSV at most")
    csv_concurrency: int = Field(
        1, ge=1, le=16, description="CSV uploads parsed at once, on threads apart from the API's"
    )
    csv_queue: int = Field(4, ge=0, description="CSV uploads waiting beyond those; more get a 429")
    max_ws_message_bytes: int = Field(64 * 1024, ge=256)
    lab_concurrency: int = Field(
        1, ge=1, le=64, description="lab computations (race, init, experiments, landscape) at once"
    )
    lab_queue: int = Field(16, ge=0, description="lab computations waiting beyond those; more get a 429")
    preview_concurrency: int = Field(
        1, ge=1, le=64, description="epoch-0 previews (pictures before training) computed at once"
    )
    preview_queue: int = Field(4, ge=0, description="previews waiting beyond those; more get a 429")
    max_predict_rows: int = Field(10_000, ge=1)
    subscriber_queue_limit: int = Field(
        20_000, ge=16, description="pending envelopes before a slow socket is closed"
    )
    heavy_per_second: float = Field(
        30.0, gt=0, le=1000, description="heavy telemetry messages per second to one subscriber at most"
    )
    pulled_message_interval: float = Field(
        0.04, ge=0, le=1, description="seconds between two epoch messages to a viewer that pulls heavy frames"
    )
    paused_timeout_seconds: float = Field(
        900.0, gt=0, description="a paused run nobody watches or controls this long is stopped"
    )
    orphan_policy: Literal["keep", "pause", "stop"] = Field(
        "keep", description="what a run does when its last websocket subscriber leaves"
    )
    ws_compression: bool = Field(
        False, description="permessage-deflate on websockets (saves bandwidth, costs CPU)"
    )
    token: str | None = Field(
        None, min_length=1, pattern=r"^[A-Za-z0-9._~-]+$", description="letters, digits and . _ ~ - only"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated origins allowed to call the API from a browser"
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=_default_allowed_hosts,
        description="comma-separated Host names served (against DNS rebinding); '*.example.com' or '*' too",
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="a request body must arrive within this; slower is a 408"
    )
    write_interval: float = Field(0.2, gt=0, description="seconds between batched database writes")
    checkpoint_seconds: float = Field(
        10.0, ge=0, description="a running run saves its trainer state this often (0: every epoch)"
    )
    max_retries: int = Field(
        2, ge=0, le=100, description="times a run whose worker died resumes from its last checkpoint"
    )
    executor: Literal["local", "dask"] = Field(
        "local", description="where runs train: local worker processes, or Dask distributed"
    )
    dask_scheduler: str | None = Field(
        None, description="with executor dask: the scheduler, e.g. tcp://host:8786 (unset: a LocalCluster)"
    )
    dask_callback_host: str = Field(
        "127.0.0.1", description="with executor dask: this server's address as the Dask workers reach it"
    )
    dask_heartbeat_seconds: float = Field(
        30.0,
        gt=0,
        description="with executor dask: a run that sends nothing this long (not even a heartbeat) is lost",
    )
    max_storage_mb: float = Field(
        4096.0, gt=0, description="database size at which heavy records stop being stored (scalars still are)"
    )
    max_run_storage_mb: float = Field(
        256.0, gt=0, description="one run's stored records: heavy records thin out past half, stop at this"
    )
    plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="modules (comma-separated) the server imports at startup and each worker at its start",
    )

    @field_validator("cors_origins", "allowed_hosts", "plugins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if "*" in host[1:] or (host.startswith("*") and host != "*" and not host.startswith("*.")):
                raise ValueError(f"{host!r}: a wildcard is '*' alone or leads a domain: '*.example.com'")
        return [host.lower() for host in hosts]

    @property
    def database(self) -> Path:
        return self.data_dir / "nnplay.sqlite3"
