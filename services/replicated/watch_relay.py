"""`relay`: one watcher's stream of the changes a state machine announces (a KV key's
puts and deletes, a lock's grants and releases), shared by the KV and lock Watch calls.

The state machine calls its listeners as it applies, and must never wait or fail there:
the relay queues each wanted change, at most `capacity` of them. A watcher that falls
that far behind is cut off, its stream ending with SLOW_CONSUMER, rather than skip a
change silently or hold up the replica. The queue keeps one slot beyond `capacity` for
the end mark: before this relay the KV and lock watches each put the mark into a full
queue, and the QueueFull that raised went up through the state machine's apply.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TypeVar

from services.runtime.errors import SlowConsumer

E = TypeVar("E")  # a change, as the state machine announces it
M = TypeVar("M")  # a message of the watch stream

WATCH_QUEUE = 1024  # changes a watcher may fall behind by before it is cut off
_END = object()


async def relay(
    listeners: set[Callable[[E], None]],
    wanted: Callable[[E], bool],
    message: Callable[[E], M],
    backlog: Iterable[M] = (),
    capacity: int = WATCH_QUEUE,
) -> AsyncIterator[M]:
    """`backlog` first (what the watcher asked for from before now), then every wanted
    change as it is applied. Call it with no await between reading the backlog and this
    call, so no change falls between the two."""
    queue: asyncio.Queue[object] = asyncio.Queue(capacity + 1)

    def listener(change: E) -> None:
        if not wanted(change):
            return
        if queue.qsize() >= capacity:
            listeners.discard(listener)
            queue.put_nowait(_END)  # the slot kept for it
            return
        queue.put_nowait(change)

    listeners.add(listener)
    try:
        for past in backlog:
            yield past
        while True:
            change = await queue.get()
            if change is _END:
                raise SlowConsumer("this watcher fell too far behind; watch again")
            yield message(change)  # type: ignore[arg-type]
    finally:
        listeners.discard(listener)
