"""The websocket's typed JSON messages, assembled from JSON texts so large records are not re-encoded."""

from __future__ import annotations

import json
from typing import Any

from server.schemas import RunPublic


def envelope(kind: str, **fields: Any) -> str:
    """{"type": kind, ...}: status, error, done, pong."""
    return json.dumps({"type": kind, **fields})


def epoch_envelope(record_json: str, coalesced: bool = False) -> str:
    """One epoch's record; `coalesced` marks the scalars of a record whose heavy telemetry was skipped."""
    marker = '"coalesced":true,' if coalesced else ""
    return f'{{"type":"epoch",{marker}"record":{record_json}}}'


def epochs_envelope(records_json: list[str]) -> str:
    """Several consecutive epochs in one message; only a pulled viewer's may hold a heavy record."""
    return f'{{"type":"epochs","records":[{",".join(records_json)}]}}'


def history_envelope(run: dict[str, Any], scalars: list[str], latest: str | None) -> str:
    """What a subscriber gets first: the run, every epoch's scalars so far, and the newest full record."""
    public = RunPublic.model_validate(run).model_dump_json()
    return f'{{"type":"history","run":{public},"epochs":[{",".join(scalars)}],"latest":{latest or "null"}}}'
