"""Length-prefixed pickled messages on a pipe: a blocking writer, a non-blocking outbox, and readers."""

from __future__ import annotations

import os
import pickle
import select
import struct
import time
from collections import deque
from typing import Any

HEADER = struct.Struct("!Q")
READ_BYTES = 1 << 16


def frame(message: Any) -> bytes:
    """A message as its length (8 bytes, big-endian) then its pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


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
        self._held.append(frame(message))
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


class Outbox:
    """Messages waiting for a non-blocking file descriptor; `flush` writes what the pipe takes now.

    Messages stay in `pending` (where the owner may still merge or drop them) until a flush finds room
    in the pipe; then every pending message is framed at once and written as far as the pipe allows.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.pending: deque[Any] = deque()
        self._unwritten = memoryview(b"")

    def __len__(self) -> int:
        return len(self.pending) + bool(self._unwritten)

    def flush(self) -> bool:
        """Write without blocking; True when nothing waits any more. OSError (a closed pipe) propagates."""
        while True:
            if not self._unwritten:
                if not self.pending:
                    return True
                self._unwritten = memoryview(b"".join(map(frame, self.pending)))
                self.pending.clear()
            try:
                written = os.write(self.fd, self._unwritten)
            except BlockingIOError:
                return False
            self._unwritten = self._unwritten[written:]

    def clear(self) -> None:
        self.pending.clear()
        self._unwritten = memoryview(b"")


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


class Receiver:
    """Whole messages from a blocking file descriptor, with `poll(timeout)` and `recv()` like a Connection."""

    def __init__(self, fd: int):
        self.fd = fd
        self._reader = Reader()
        self._messages: deque[Any] = deque()
        self._ended = False
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)

    def poll(self, timeout: float | None = 0.0) -> bool:
        """True when a message (or the end of the stream) is ready within `timeout` seconds (None: wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._messages and not self._ended:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
            if not self._poller.poll(remaining):
                return False
            chunk = os.read(self.fd, READ_BYTES)
            self._ended = not chunk
            self._messages.extend(self._reader.feed(chunk))
        return True

    def recv(self) -> Any:
        """The next message, waiting for it; EOFError once the writer has closed the pipe."""
        self.poll(None)
        if not self._messages:
            raise EOFError("the pipe was closed")
        return self._messages.popleft()
