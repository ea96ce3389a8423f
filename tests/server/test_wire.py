"""Pickled messages survive being split across reads at any point."""

from __future__ import annotations

import os
import threading

from server.wire import Reader, Writer


def test_messages_round_trip_through_a_pipe_in_pieces():
    messages = [("epoch", "run", {"i": i, "blob": b"x" * (i * 5000)}) for i in range(20)]
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=lambda: [Writer(write_end).send(m) for m in messages])
    writer.start()
    reader, got = Reader(), []
    while len(got) < len(messages):
        got += reader.feed(os.read(read_end, 777))
    writer.join()
    os.close(write_end)
    os.close(read_end)
    assert got == messages and not reader.buffer


def test_a_partial_message_waits_for_the_rest():
    read_end, write_end = os.pipe()
    Writer(write_end).send({"a": 1})
    data = os.read(read_end, 1000)
    reader = Reader()
    assert (
        reader.feed(data[:5]) == [] and reader.feed(data[5:-1]) == [] and reader.feed(data[-1:]) == [{"a": 1}]
    )
    os.close(read_end)
    os.close(write_end)
