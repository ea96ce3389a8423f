"""How often and how many at once: a token bucket, Retry-After, and thread work behind a bounded queue."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import anyio

from server.errors import ApiError


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; each action spends one."""

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.updated = time.monotonic()

    def take(self) -> float:
        """Spend a token and return 0, or return the seconds until one is available (spending nothing)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def retry_after(seconds: float) -> dict[str, str]:
    """A Retry-After header: whole seconds, at least 1."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


async def run_limited(
    limiter: anyio.CapacityLimiter, queue: int, waiting: str, function: Callable[..., Any], *args: Any
) -> Any:
    """function(*args) in a thread, the limiter's tokens at a time; a 429 past `queue` already waiting.

    waiting: what waits and its setting, e.g. "CSV uploads are waiting (NNPLAY_CSV_QUEUE)".
    """
    load = limiter.statistics()
    if load.borrowed_tokens >= load.total_tokens and load.tasks_waiting >= queue:
        raise ApiError(
            429, f"{load.tasks_waiting} {waiting}; try again in a few seconds", headers=retry_after(2)
        )
    return await anyio.to_thread.run_sync(function, *args, limiter=limiter)
