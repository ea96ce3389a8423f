"""A token bucket: how often a client may do something, with a short burst allowed."""

from __future__ import annotations

import math
import time


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
