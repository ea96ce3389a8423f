"""Pickled messages survive being split across reads at any point; a full pipe never blocks the outbox."""

from __future__ import annotations

import os
import threading
import time

import pytest

from server.wire import Outbox, Reader, Receiver, Writer


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


def test_an_outbox_never_blocks_on_a_full_pipe_and_delivers_everything_in_order_once_read():
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    outbox = Outbox(write_end)
    messages = [("control", "run", i, b"x" * 1000) for i in range(300)]
    flushed = []
    for message in messages:
        outbox.pending.append(message)
        flushed.append(outbox.flush())
    assert flushed[0] and not flushed[-1] and len(outbox) > 0
    receiver, got = Receiver(read_end), []
    while len(got) < len(messages):
        while receiver.poll(0):
            got.append(receiver.recv())
        outbox.flush()
    assert got == messages and outbox.flush() and len(outbox) == 0
    os.close(write_end)
    assert receiver.poll(1) and _ends(receiver)
    os.close(read_end)


def test_a_receiver_polls_with_a_timeout_and_reports_the_end():
    read_end, write_end = os.pipe()
    receiver = Receiver(read_end)
    started = time.monotonic()
    assert not receiver.poll(0.2)
    assert 0.15 < time.monotonic() - started < 2
    Writer(write_end).send({"a": 1})
    assert receiver.poll(0) and receiver.recv() == {"a": 1} and not receiver.poll(0)
    later = threading.Timer(0.2, Writer(write_end).send, [("later",)])
    later.start()
    assert receiver.recv() == ("later",)
    later.join()
    os.close(write_end)
    assert _ends(receiver)
    os.close(read_end)


def test_writing_to_an_outbox_whose_reader_is_gone_raises():
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    os.close(read_end)
    outbox = Outbox(write_end)
    outbox.pending.append("hello")
    with pytest.raises(BrokenPipeError):
        outbox.flush()
    os.close(write_end)


def _ends(receiver):
    try:
        receiver.recv()
    except EOFError:
        return True
    return False
