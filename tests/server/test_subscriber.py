"""A subscriber keeps every scalar and the newest heavy payload, paced; waiting scalars leave together."""

from __future__ import annotations

import asyncio
import json
import time

from server.subscriber import CLOSE, Subscriber


def full(epoch):
    return json.dumps({"epoch": epoch, "heavy": True, "layers": []})


def scalars(epoch, heavy=False):
    return json.dumps({"epoch": epoch, "heavy": heavy})


def summary(text):
    """A message as (type, epochs, heavy payload carried) for comparing."""
    if text is CLOSE:
        return "close"
    message = json.loads(text)
    if message["type"] == "epoch":
        return (
            "epoch",
            message["record"]["epoch"],
            "layers" in message["record"],
            message.get("coalesced", False),
        )
    if message["type"] == "epochs":
        return "epochs", [record["epoch"] for record in message["records"]]
    return message["type"]


def drain(subscriber):
    async def collect():
        items = []
        while True:
            item = await subscriber.get()
            items.append(summary(item))
            if item is CLOSE:
                return items

    return asyncio.run(collect())


def test_heavy_payloads_coalesce_to_the_newest_and_waiting_scalars_leave_together():
    subscriber = Subscriber()
    subscriber.put(json.dumps({"type": "history"}))
    for epoch in range(1, 6):
        subscriber.put_epoch(full(epoch), scalars(epoch, heavy=True))
    subscriber.put_epoch(None, scalars(6))
    subscriber.put_epoch(None, scalars(7))
    subscriber.put(json.dumps({"type": "done"}))
    subscriber.close()
    assert drain(subscriber) == [
        "history",
        ("epochs", [1, 2, 3, 4]),
        ("epoch", 5, True, False),
        ("epochs", [6, 7]),
        "done",
        "close",
    ]


def test_a_lone_coalesced_epoch_is_marked_and_batches_have_a_size_limit():
    subscriber = Subscriber(batch=3)
    subscriber.put_epoch(full(1), scalars(1, heavy=True))
    subscriber.put(json.dumps({"type": "status"}))
    subscriber.put_epoch(full(2), scalars(2, heavy=True))
    for epoch in range(3, 8):
        subscriber.put_epoch(None, scalars(epoch))
    subscriber.close()
    assert drain(subscriber) == [
        ("epoch", 1, False, True),
        "status",
        ("epoch", 2, True, False),
        ("epochs", [3, 4, 5]),
        ("epochs", [6, 7]),
        "close",
    ]


def test_a_taken_heavy_payload_is_not_downgraded():
    subscriber = Subscriber()
    subscriber.put_epoch(full(1), scalars(1, heavy=True))

    async def take_then_add():
        first = await subscriber.get()
        subscriber.put_epoch(full(2), scalars(2, heavy=True))
        return summary(first), summary(await subscriber.get())

    assert asyncio.run(take_then_add()) == (("epoch", 1, True, False), ("epoch", 2, True, False))


def test_overflow_closes_the_subscriber():
    subscriber = Subscriber(limit=16)
    for epoch in range(20):
        subscriber.put_epoch(None, scalars(epoch))
    assert subscriber.closed and subscriber.close_code == 1013
    subscriber.put(json.dumps({"type": "ignored"}))
    assert drain(subscriber) == ["close"]


def test_heavy_payloads_are_paced_and_the_newest_always_leaves():
    subscriber = Subscriber(heavy_per_second=20)

    async def scenario():
        subscriber.put_epoch(full(1), scalars(1, heavy=True))
        start = time.monotonic()
        taken = [await subscriber.get()]
        subscriber.put_epoch(full(2), scalars(2, heavy=True))
        waiting = asyncio.create_task(subscriber.get())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        subscriber.put_epoch(full(3), scalars(3, heavy=True))
        taken += [await waiting, await subscriber.get()]
        return [summary(text) for text in taken], time.monotonic() - start

    taken, seconds = asyncio.run(scenario())
    assert taken == [("epoch", 1, True, False), ("epoch", 2, False, True), ("epoch", 3, True, False)]
    assert seconds >= 0.05


def test_ready_for_heavy_when_no_heavy_waits_and_the_interval_has_passed():
    async def scenario():
        subscriber = Subscriber(heavy_per_second=20)
        assert subscriber.ready_for_heavy
        subscriber.put_epoch(full(1), scalars(1, True))
        assert not subscriber.ready_for_heavy
        await subscriber.get()
        assert not subscriber.ready_for_heavy
        await asyncio.sleep(0.06)
        assert subscriber.ready_for_heavy
        subscriber.close()
        assert not subscriber.ready_for_heavy

    asyncio.run(scenario())
