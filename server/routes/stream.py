"""Websocket /api/runs/{id}/stream: history first, then live epochs; control messages both ways.

Client messages: `{"type": "control", "action": ...}` (as POST .../control), `{"type": "ping"}` (answered
with a pong) and `{"type": "ready"}`: the viewer is ready for its next heavy frame. A subscriber that has
sent one is pulled: the run's worker computes heavy telemetry for it only after a ready (at most
NNPLAY_HEAVY_PER_SECOND a second), and one heavy frame leaves per ready; repeats before that frame are
idempotent. A subscriber that never sends one gets heavy frames pushed, paced to NNPLAY_HEAVY_PER_SECOND.
Opened with `?pull=1`, a subscriber is pulled from its start (no frame is pushed before its first ready).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError

from server.envelopes import envelope
from server.errors import ApiError, readable, summary
from server.manager import RunManager
from server.schemas import StreamControl
from server.subscriber import CLOSE, Subscriber

router = APIRouter(prefix="/api/runs", tags=["stream"])

MESSAGE_TYPES = ("control", "ping", "ready")
SUBPROTOCOL = "nnplay"
RATE_LIMITED_REPLY_SECONDS = 1.0


@router.websocket("/{run_id}/stream")
async def stream_run(websocket: WebSocket, run_id: str) -> None:
    manager: RunManager = websocket.app.state.manager
    settings = websocket.app.state.settings
    offered = websocket.scope.get("subprotocols", ())
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    pull = websocket.query_params.get("pull", "0")
    if pull not in ("0", "1"):
        detail = f"pull must be 0 or 1 (1: heavy frames only after a ready), not {pull[:40]!r}"
        await websocket.send_text(envelope("error", detail=detail))
        await websocket.close(4400)
        return
    subscriber = Subscriber(
        settings.subscriber_queue_limit,
        settings.heavy_per_second,
        pulled_interval=settings.pulled_message_interval,
        pull=pull == "1",
    )
    if not await manager.subscribe(run_id, subscriber):
        await websocket.send_text(envelope("error", detail=f"no run with id {run_id!r}"))
        await websocket.close(4404)
        return
    sender = asyncio.create_task(_send(websocket, subscriber))
    try:
        await _receive(websocket, manager, run_id, subscriber, settings.max_ws_message_bytes)
    finally:
        manager.unsubscribe(run_id, subscriber)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def _send(websocket: WebSocket, subscriber: Subscriber) -> None:
    try:
        while True:
            text = await subscriber.get()
            if text is CLOSE:
                await websocket.close(subscriber.close_code or 1000)
                return
            await websocket.send_text(text)
    except Exception:
        return


async def _receive(
    websocket: WebSocket, manager: RunManager, run_id: str, subscriber: Subscriber, limit: int
) -> None:
    """Answer each message in turn, yielding to the loop between two; a rate-limit error once a second."""
    quiet_until = 0.0
    while True:
        try:
            message = await websocket.receive()
        except Exception:
            return
        if message["type"] == "websocket.disconnect":
            return
        await asyncio.sleep(0)
        text = message.get("text")
        raw = text.encode() if text is not None else message.get("bytes") or b""
        if len(raw) > limit:
            subscriber.put(
                envelope(
                    "error",
                    detail=f"message of {len(raw)} bytes is larger than {limit} bytes "
                    "(NNPLAY_MAX_WS_MESSAGE_BYTES)",
                )
            )
            continue
        try:
            reply = await _handle(raw, manager, run_id, subscriber)
        except ApiError as error:
            if error.status == 429 and time.monotonic() < quiet_until:
                continue
            if error.status == 429:
                quiet_until = time.monotonic() + RATE_LIMITED_REPLY_SECONDS
            reply = envelope("error", detail=error.msg)
        if reply is not None:
            subscriber.put(reply)


async def _handle(raw: bytes, manager: RunManager, run_id: str, subscriber: Subscriber) -> str | None:
    try:
        payload = json.loads(raw)
    except ValueError:
        return envelope("error", detail='messages must be JSON objects such as {"type": "control", ...}')
    except RecursionError:
        return envelope("error", detail="the message is nested too deeply to be a control or a ping")
    if not isinstance(payload, dict) or payload.get("type") not in MESSAGE_TYPES:
        kind = payload.get("type") if isinstance(payload, dict) else None
        return envelope("error", detail=f"unknown message type {kind!r}; valid: {', '.join(MESSAGE_TYPES)}")
    if payload["type"] == "ping":
        return envelope("pong")
    if payload["type"] == "ready":
        subscriber.grant()
        return None
    try:
        control = StreamControl.model_validate(payload)
    except ValidationError as error:
        details = readable(error.errors(include_url=False, include_input=False, include_context=False))
        return envelope("error", detail=summary(details), errors=details)
    await manager.control(run_id, control.action, control.payload())
    return None
