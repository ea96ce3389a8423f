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


def test_held_messages_leave_together_after_the_hold_and_an_unheld_one_flushes_them():
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    writer = Writer(write_end, hold_seconds=60)
    writer.send("first", hold=True)
    writer.send("second", hold=True)
    writer.send("third", hold=True)
    reader = Reader()
    first = reader.feed(os.read(read_end, 1000))
    try:
        os.read(read_end, 1000)
        waiting = False
    except BlockingIOError:
        waiting = True
    writer.send("done")
    rest = reader.feed(os.read(read_end, 1000))
    writer.send("later", hold=True)
    writer.flush()
    last = reader.feed(os.read(read_end, 1000))
    os.close(read_end)
    os.close(write_end)
    assert first == ["first"] and waiting
    assert rest == ["second", "third", "done"] and last == ["later"]
