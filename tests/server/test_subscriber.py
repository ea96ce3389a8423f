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
        return "epochs", [("heavy", r["epoch"]) if "layers" in r else r["epoch"] for r in message["records"]]
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


def test_a_pulled_viewer_is_ready_for_heavy_only_with_a_grant():
    async def scenario():
        subscriber = Subscriber(heavy_per_second=1000)
        subscriber.grant()
        assert subscriber.pull and subscriber.ready_for_heavy
        subscriber.put_epoch(full(1), scalars(1, True))
        assert summary(await subscriber.get()) == ("epoch", 1, True, False)
        await asyncio.sleep(0.01)
        assert not subscriber.ready_for_heavy
        subscriber.grant()
        assert subscriber.ready_for_heavy

    asyncio.run(scenario())


def test_one_heavy_frame_leaves_per_grant_however_many_grants_came_before_it():
    async def scenario():
        subscriber = Subscriber(heavy_per_second=1000)
        for _ in range(5000):
            subscriber.grant()
        taken = []
        for epoch in range(1, 4):
            subscriber.put_epoch(full(epoch), scalars(epoch, True))
            await asyncio.sleep(0.005)
            subscriber.put_epoch(None, scalars(epoch + 10))
            while len(subscriber):
                taken.append(summary(await subscriber.get()))
        return taken

    taken = asyncio.run(scenario())
    assert taken == [("epochs", [("heavy", 1), 11]), ("epochs", [2, 12]), ("epochs", [3, 13])]


def test_an_ungranted_heavy_frame_waits_at_the_head_until_a_grant_then_leaves_in_order():
    async def scenario():
        subscriber = Subscriber(heavy_per_second=1000)
        subscriber.grant()
        subscriber.put_epoch(full(1), scalars(1, True))
        taken = [await subscriber.get()]
        subscriber.put_epoch(full(2), scalars(2, True))
        subscriber.put(json.dumps({"type": "status"}))
        waiting = asyncio.create_task(subscriber.get())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        subscriber.grant()
        taken += [await waiting, await subscriber.get()]
        return [summary(text) for text in taken]

    assert asyncio.run(scenario()) == [("epoch", 1, True, False), ("epoch", 2, True, False), "status"]


def test_an_ungranted_heavy_frame_leaves_as_scalars_once_a_later_epoch_arrives():
    async def scenario():
        subscriber = Subscriber(heavy_per_second=1000)
        subscriber.grant()
        subscriber.put_epoch(full(1), scalars(1, True))
        taken = [await subscriber.get()]
        subscriber.put_epoch(full(2), scalars(2, True))
        waiting = asyncio.create_task(subscriber.get())
        await asyncio.sleep(0.02)
        assert not waiting.done()
        subscriber.put_epoch(None, scalars(3))
        taken.append(await waiting)
        return [summary(text) for text in taken], subscriber.ready_for_heavy

    taken, ready = asyncio.run(scenario())
    assert taken == [("epoch", 1, True, False), ("epochs", [2, 3])]
    assert not ready


def test_closing_lets_an_ungranted_heavy_frame_leave_in_full():
    subscriber = Subscriber(heavy_per_second=1000)
    subscriber.grant()

    async def scenario():
        subscriber.put_epoch(full(1), scalars(1, True))
        first = summary(await subscriber.get())
        subscriber.put_epoch(full(2), scalars(2, True))
        subscriber.put(json.dumps({"type": "done"}))
        subscriber.close()
        return first

    assert asyncio.run(scenario()) == ("epoch", 1, True, False)
    assert drain(subscriber) == [("epoch", 2, True, False), "done", "close"]


def pulled_viewer_of_a_fast_run(interval, seconds=1.0):
    """~1000 epochs/s to a viewer that grants a frame on each heavy one: (messages, epochs, heavy, time)."""
    subscriber = Subscriber(heavy_per_second=1000, pulled_interval=interval)
    subscriber.grant()

    async def produce():
        epoch, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            epoch += 1
            heavy = subscriber.ready_for_heavy
            subscriber.put_epoch(full(epoch) if heavy else None, scalars(epoch, heavy))
            await asyncio.sleep(0.001)
        subscriber.put(json.dumps({"type": "done"}))
        subscriber.close()

    async def view():
        messages, epochs, heavy = 0, [], 0
        start = time.monotonic()
        producer = asyncio.create_task(produce())
        while (text := await subscriber.get()) is not CLOSE:
            messages += 1
            message = json.loads(text)
            records = message.get("records") or [message.get("record")] * (message["type"] == "epoch")
            epochs += [record["epoch"] for record in records]
            if any("layers" in record for record in records):
                heavy += 1
                subscriber.grant()
        await producer
        return messages, epochs, heavy, time.monotonic() - start

    return asyncio.run(view())


def test_a_pulled_viewer_gets_every_epoch_in_order_in_at_most_one_message_per_interval():
    messages, epochs, heavy, elapsed = pulled_viewer_of_a_fast_run(0.04)
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) > 200
    assert messages <= elapsed / 0.04 + 3, (messages, elapsed)
    assert heavy >= elapsed / 0.04 / 2, (heavy, elapsed)


def test_whole_messages_leave_at_once_after_the_epochs_before_them():
    async def scenario():
        subscriber = Subscriber(pulled_interval=5.0)
        subscriber.grant()
        subscriber.put_epoch(None, scalars(1))
        taken = [await subscriber.get()]
        start = time.monotonic()
        for epoch in (2, 3):
            subscriber.put_epoch(None, scalars(epoch))
        for kind in ("status", "pong", "done"):
            subscriber.put(json.dumps({"type": kind}))
        subscriber.close()
        while taken[-1] is not CLOSE:
            taken.append(await subscriber.get())
        return [summary(text) for text in taken], time.monotonic() - start

    taken, seconds = asyncio.run(scenario())
    assert taken == [("epoch", 1, False, False), ("epochs", [2, 3]), "status", "pong", "done", "close"]
    assert seconds < 0.5


async def granted_viewer_sent_epoch_1():
    """A granted pulled viewer (interval 0.2 s) just sent epoch 1, epoch 2 waiting: (it, taken, start)."""
    subscriber = Subscriber(heavy_per_second=1000, pulled_interval=0.2)
    subscriber.grant()
    subscriber.put_epoch(None, scalars(1))
    taken = [await subscriber.get()]
    start = time.monotonic()
    subscriber.put_epoch(None, scalars(2))
    return subscriber, taken, start


def test_a_granted_heavy_frame_waits_at_most_the_interval_and_leaves_with_the_epochs_before_it():
    async def scenario():
        subscriber, taken, start = await granted_viewer_sent_epoch_1()
        subscriber.put_epoch(full(3), scalars(3, True))
        taken.append(await subscriber.get())
        return [summary(text) for text in taken], time.monotonic() - start

    taken, seconds = asyncio.run(scenario())
    assert taken == [("epoch", 1, False, False), ("epochs", [2, ("heavy", 3)])]
    assert 0.15 <= seconds < 0.35


def test_while_a_granted_frame_is_awaited_epochs_wait_for_it_up_to_twice_the_interval():
    async def scenario():
        subscriber, taken, start = await granted_viewer_sent_epoch_1()
        waiting = asyncio.create_task(subscriber.get())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        subscriber.put_epoch(full(3), scalars(3, True))
        taken.append(await waiting)
        arrived = time.monotonic() - start
        subscriber.put_epoch(None, scalars(4))
        taken.append(await subscriber.get())
        return [summary(text) for text in taken], arrived, time.monotonic() - start

    taken, arrived, ended = asyncio.run(scenario())
    assert taken == [("epoch", 1, False, False), ("epochs", [2, ("heavy", 3)]), ("epoch", 4, False, False)]
    assert 0.3 <= arrived < 0.37 and ended >= arrived + 0.19
