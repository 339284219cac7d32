"""The watch relay: the backlog first, then each wanted change in order; a watcher that
falls `capacity` changes behind is cut off with SLOW_CONSUMER, and the state machine
announcing changes never sees an error (it once got QueueFull through its apply)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from services.kv import commands
from services.kv.commands import Put
from services.kv.state import KvState
from services.replicated.watch_relay import WATCH_QUEUE, relay
from services.runtime.errors import SlowConsumer


async def test_backlog_then_wanted_changes_in_order() -> None:
    listeners: set[Callable[[int], None]] = set()
    stream = relay(listeners, lambda n: n % 2 == 0, lambda n: f"change {n}", ["past"])
    assert await anext(stream) == "past"
    (announce,) = listeners
    for n in range(5):
        announce(n)
    assert [await anext(stream) for _ in range(3)] == ["change 0", "change 2", "change 4"]
    await stream.aclose()
    assert not listeners, "a closed watch stops listening"


async def test_a_watcher_that_falls_behind_is_cut_off_without_failing_the_announcer() -> None:
    listeners: set[Callable[[int], None]] = set()
    stream = relay(listeners, lambda n: True, str, ["past"], capacity=3)
    await anext(stream)
    assert len(listeners) == 1
    for n in range(10):  # the apply loop goes on: no exception reaches it
        for listener in list(listeners):
            listener(n)
    assert not listeners, "cut off at the 4th change"
    assert [await anext(stream) for _ in range(3)] == ["0", "1", "2"]
    with pytest.raises(SlowConsumer):
        await anext(stream)


async def test_a_kv_watcher_that_stops_reading_never_fails_the_state_machines_apply() -> None:
    """The real emitter: KvState calls its listeners inside apply. 1,100 puts under a
    watched prefix, the watcher reading none: every put applies, the watch ends."""
    state = KvState()
    stream = relay(state.listeners, lambda e: e.key.startswith(b"w/"), lambda e: e.key.decode())
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)  # the relay is listening
    for i in range(1100):
        state.apply(i + 1, commands.encode(Put(f"w/{i:04d}", b"v")))
    assert state.revision == 1101 and not state.listeners  # the store starts at 1
    assert await first == "w/0000"
    drained = [await anext(stream) for _ in range(WATCH_QUEUE - 1)]
    assert drained[-1] == f"w/{WATCH_QUEUE - 1:04d}"
    with pytest.raises(SlowConsumer):
        await anext(stream)
