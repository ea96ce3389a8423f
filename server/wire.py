"""Length-prefixed pickled messages on a pipe: a blocking writer and an incremental reader."""

from __future__ import annotations

import os
import pickle
import struct
import time
from typing import Any

HEADER = struct.Struct("!Q")


class Writer:
    """Writes whole messages to a file descriptor, blocking while the pipe is full.

    A message sent with `hold=True` may wait, with any others held, until `hold_seconds` have passed
    since the last write: a fast producer then writes a few messages at once instead of one per call.
    """

    def __init__(self, fd: int, hold_seconds: float = 0.0):
        self.fd = fd
        self.hold_seconds = hold_seconds
        self._held: list[bytes] = []
        self._written = float("-inf")

    def send(self, message: Any, hold: bool = False) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._held += (HEADER.pack(len(data)), data)
        if not hold or time.monotonic() - self._written >= self.hold_seconds:
            self.flush()

    def flush(self) -> None:
        """Write every held message."""
        if not self._held:
            return
        view = memoryview(b"".join(self._held))
        self._held.clear()
        while view:
            view = view[os.write(self.fd, view) :]
        self._written = time.monotonic()


class Reader:
    """Turns chunks of a byte stream back into messages, keeping any partial one for the next chunk."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, chunk: bytes) -> list[Any]:
        self.buffer += chunk
        messages, start = [], 0
        with memoryview(self.buffer) as view:
            while len(view) - start >= HEADER.size:
                (size,) = HEADER.unpack_from(view, start)
                end = start + HEADER.size + size
                if end > len(view):
                    break
                messages.append(pickle.loads(view[start + HEADER.size : end]))
                start = end
        del self.buffer[:start]
        return messages
