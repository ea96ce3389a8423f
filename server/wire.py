"""Length-prefixed pickled messages on a pipe: a blocking writer and an incremental reader."""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

HEADER = struct.Struct("!Q")


class Writer:
    """Writes whole messages to a file descriptor, blocking while the pipe is full."""

    def __init__(self, fd: int):
        self.fd = fd

    def send(self, message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(HEADER.pack(len(data)) + data)
        while view:
            view = view[os.write(self.fd, view) :]


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
