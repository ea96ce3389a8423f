"""A websocket subscriber's outbox: every scalar kept, heavy telemetry coalesced to the newest and paced."""

from __future__ import annotations

import asyncio
import time
from collections import deque

CLOSE = object()


class Subscriber:
    """Messages wait here until the socket takes them, so a slow client never holds anyone else up.

    At most one epoch with heavy telemetry waits at a time: when a newer one arrives, the waiting one is
    replaced by its scalars. Heavy payloads leave at most `heavy_per_second` times a second (a browser
    draws no faster, and one that parses more falls behind the run); the newest always leaves. Past
    `limit` waiting messages the subscriber is closed (it may reconnect and get the history).
    """

    def __init__(self, limit: int = 20_000, heavy_per_second: float = 30.0):
        self.limit = limit
        self.heavy_interval = 1.0 / heavy_per_second
        self._outbox: deque[list] = deque()
        self._heavy: list | None = None
        self._heavy_sent = float("-inf")
        self._ready = asyncio.Event()
        self.close_code: int | None = None

    def __len__(self) -> int:
        return len(self._outbox)

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def put(self, text: str) -> None:
        self._append([text, None])

    def put_epoch(self, full: str | None, light: str) -> None:
        """An epoch envelope: `full` with heavy telemetry (or None), `light` with the scalars only."""
        if full is None:
            self._append([light, None])
            return
        if self._heavy is not None:
            self._heavy[0] = self._heavy[1]
        self._heavy = [full, light]
        self._append(self._heavy)

    def close(self, code: int = 1000) -> None:
        if self.close_code is None:
            self.close_code = code
            self._outbox.append([CLOSE, None])
            self._ready.set()

    def _append(self, entry: list) -> None:
        if self.closed:
            return
        if len(self._outbox) >= self.limit:
            self._outbox.clear()
            self._heavy = None
            self.close(1013)
            return
        self._outbox.append(entry)
        self._ready.set()

    async def get(self) -> str | object:
        """The next message text, or CLOSE; a heavy payload waits out the interval since the last one."""
        while not self._outbox:
            self._ready.clear()
            await self._ready.wait()
        if self._outbox[0] is self._heavy:
            await asyncio.sleep(self._heavy_sent + self.heavy_interval - time.monotonic())
        entry = self._outbox.popleft()
        if entry is self._heavy:
            self._heavy = None
            self._heavy_sent = time.monotonic()
        return entry[0]
