"""A subscriber keeps every scalar and only the newest heavy payload."""

from __future__ import annotations

import asyncio
import time

from server.subscriber import CLOSE, Subscriber


def drain(subscriber):
    async def collect():
        items = []
        while True:
            item = await subscriber.get()
            items.append(item)
            if item is CLOSE:
                return items

    return asyncio.run(collect())


def test_heavy_payloads_coalesce_to_the_newest():
    subscriber = Subscriber()
    subscriber.put("history")
    for epoch in range(1, 6):
        subscriber.put_epoch(f"full{epoch}", f"light{epoch}")
    subscriber.put_epoch(None, "light6")
    subscriber.put("done")
    subscriber.close()
    assert drain(subscriber) == [
        "history",
        "light1",
        "light2",
        "light3",
        "light4",
        "full5",
        "light6",
        "done",
        CLOSE,
    ]


def test_a_taken_heavy_payload_is_not_downgraded():
    subscriber = Subscriber()
    subscriber.put_epoch("full1", "light1")

    async def take_then_add():
        first = await subscriber.get()
        subscriber.put_epoch("full2", "light2")
        return first, await subscriber.get()

    assert asyncio.run(take_then_add()) == ("full1", "full2")


def test_overflow_closes_the_subscriber():
    subscriber = Subscriber(limit=16)
    for epoch in range(20):
        subscriber.put_epoch(None, f"light{epoch}")
    assert subscriber.closed and subscriber.close_code == 1013
    subscriber.put("ignored")
    assert drain(subscriber) == [CLOSE]


def test_heavy_payloads_are_paced_and_the_newest_always_leaves():
    subscriber = Subscriber(heavy_per_second=20)

    async def scenario():
        subscriber.put_epoch("full1", "light1")
        start = time.monotonic()
        taken = [await subscriber.get()]
        subscriber.put_epoch("full2", "light2")
        waiting = asyncio.create_task(subscriber.get())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        subscriber.put_epoch("full3", "light3")
        taken += [await waiting, await subscriber.get()]
        return taken, time.monotonic() - start

    taken, seconds = asyncio.run(scenario())
    assert taken == ["full1", "light2", "full3"]
    assert seconds >= 0.05
