"""A websocket subscriber's outbox: every scalar kept, heavy telemetry coalesced to the newest and paced."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from server.envelopes import epoch_envelope, epochs_envelope

CLOSE = object()
MESSAGE, SCALARS, COALESCED, HEAVY = range(4)


class Subscriber:
    """Messages wait here until the socket takes them, so a slow client never holds anyone else up.

    At most one epoch with heavy telemetry waits at a time: when a newer one arrives, the waiting one is
    replaced by its scalars. Heavy payloads leave at most `heavy_per_second` times a second (a browser
    draws no faster, and one that parses more falls behind the run); the newest always leaves. Epochs
    waiting with scalars only leave together, up to `batch` in one `epochs` message. Past `limit`
    waiting messages the subscriber is closed (it may reconnect and get the history).

    A viewer that says when it is ready for a frame (`grant`, the websocket's `{"type": "ready"}`) is
    pulled: from its first grant on (from the start, with `pull`), one heavy payload leaves per grant.
    A heavy payload at the head of the outbox with no grant waits for one (messages behind it wait too)
    until a later epoch arrives, which leaves it as scalars, or the subscriber closes, which lets it
    leave in full. A pulled viewer
    gets epochs at most once every `pulled_interval` seconds (a browser handles each message on its
    main thread): the epochs waiting then, a granted heavy frame among them, leave in one `epochs`
    message; while a granted frame is awaited, epochs wait for it up to twice that interval. Whole
    messages (status, done, error, pong) leave at once, after the epochs before them.
    """

    def __init__(
        self,
        limit: int = 20_000,
        heavy_per_second: float = 30.0,
        batch: int = 256,
        pulled_interval: float = 0.04,
        pull: bool = False,
    ):
        self.limit = limit
        self.batch = batch
        self.heavy_interval = 1.0 / heavy_per_second
        self.pulled_interval = pulled_interval
        self._outbox: deque[list] = deque()
        self._heavy: list | None = None
        self._heavy_sent = float("-inf")
        self._sent = float("-inf")
        self._whole = 0
        self._ready = asyncio.Event()
        self._pacing = False
        self.close_code: int | None = None
        self.pull = pull
        self._granted = False

    def __len__(self) -> int:
        return len(self._outbox)

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def ready_for_heavy(self) -> bool:
        """True when no heavy payload waits and the next one could leave at once (pulled: after a grant)."""
        waited = time.monotonic() - self._heavy_sent >= self.heavy_interval
        return self._heavy is None and waited and not self.closed and (self._granted or not self.pull)

    def grant(self) -> None:
        """The viewer is ready for one heavy frame; repeated before that frame leaves, it changes nothing."""
        self.pull = True
        if not self._granted:
            self._granted = True
            self._ready.set()

    def put(self, text: str) -> None:
        """A whole message (history, status, done, error, pong)."""
        self._append([MESSAGE, text, None])

    def put_epoch(self, full: str | None, scalars: str) -> None:
        """An epoch's record JSON: `full` with heavy telemetry (or None), `scalars` without it."""
        if self._heavy is not None and (full is not None or self.pull and not self._granted):
            self._heavy[:2] = COALESCED, self._heavy[2]
            self._heavy = None
        if full is None:
            self._append([SCALARS, scalars, None])
            return
        self._heavy = [HEAVY, full, scalars]
        self._append(self._heavy)

    def close(self, code: int = 1000) -> None:
        if self.close_code is None:
            self.close_code = code
            self._outbox.append([MESSAGE, CLOSE, None])
            self._whole += 1
            self._ready.set()

    def _append(self, entry: list) -> None:
        if self.closed:
            return
        if len(self._outbox) >= self.limit:
            self._outbox.clear()
            self._heavy, self._whole = None, 0
            self.close(1013)
            return
        self._outbox.append(entry)
        if entry[0] == MESSAGE:
            self._whole += 1
        if entry[0] != SCALARS or not self._pacing:
            self._ready.set()

    def _waits_for_grant(self) -> bool:
        return self.pull and not self._granted and not self.closed and self._outbox[0] is self._heavy

    def _delay(self) -> float:
        """Seconds until the head may leave: a heavy payload's pace, a pulled viewer's message interval."""
        now = time.monotonic()
        delay = 0.0
        if self.pull and not self._whole:
            asked = self._granted and self._heavy is None
            delay = self._sent + self.pulled_interval * (2 if asked else 1) - now
        if self._outbox[0] is self._heavy:
            delay = max(delay, self._heavy_sent + self.heavy_interval - now)
        return delay

    def _joins(self, entry: list, first_kind: int) -> bool:
        """Whether `entry` leaves in the same message as the epochs taken before it."""
        if entry[0] == MESSAGE:
            return False
        if not self.pull:
            return entry[0] != HEAVY and first_kind != HEAVY
        if entry[0] != HEAVY:
            return True
        paced = time.monotonic() - self._heavy_sent >= self.heavy_interval
        return paced and (self._granted or self.closed)

    def _take(self, entry: list) -> str:
        if entry[0] == HEAVY:
            self._heavy, self._granted = None, False
            self._heavy_sent = time.monotonic()
        return entry[1]

    async def get(self) -> str | object:
        """The next message text, or CLOSE, once the head may leave (see the class)."""
        while True:
            while not self._outbox or self._waits_for_grant():
                self._ready.clear()
                await self._ready.wait()
            delay = self._delay()
            if delay <= 0:
                break
            self._ready.clear()
            self._pacing = True
            alarm = asyncio.get_running_loop().call_later(delay, self._ready.set)
            try:
                await self._ready.wait()
            finally:
                alarm.cancel()
                self._pacing = False
        self._sent = time.monotonic()
        entry = self._outbox.popleft()
        if entry[0] == MESSAGE:
            self._whole -= 1
            return entry[1]
        records = [self._take(entry)]
        while self._outbox and len(records) < self.batch and self._joins(self._outbox[0], entry[0]):
            records.append(self._take(self._outbox.popleft()))
        if len(records) > 1:
            return epochs_envelope(records)
        return epoch_envelope(records[0], coalesced=entry[0] == COALESCED)
