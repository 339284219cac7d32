"""The Gatherer, as pure asyncio code: calls made one at a time, carried many to a batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cluster.client.gathering import Gatherer


class Server:
    """Answers each batch once released, so a test decides what is in flight."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.arrived = asyncio.Event()  # a batch is in flight
        self.release = asyncio.Event()
        self.fail_next = False

    async def send(self, items: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(items)
        self.arrived.set()
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("the request failed")
        return [ValueError(f"refused {i}") if i < 0 else i * 10 for i in items]


async def test_items_that_wait_behind_a_request_go_together_in_order() -> None:
    server = Server()
    gatherer = Gatherer(server.send, max_batch=3)
    # Tasks run in the order they were made, and the sender is made by the first
    # submit: every item is queued before the first request takes three of them.
    calls = [asyncio.create_task(gatherer.submit(i)) for i in range(7)]
    await server.arrived.wait()
    assert server.batches == [[0, 1, 2]]
    server.release.set()
    assert await asyncio.gather(*calls) == [i * 10 for i in range(7)]
    assert server.batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert gatherer.requests == 3


async def test_a_refused_item_fails_alone_and_a_failed_request_fails_its_batch() -> None:
    server = Server()
    gatherer = Gatherer(server.send, max_batch=10)
    server.release.set()
    results = await asyncio.gather(gatherer.submit(1), gatherer.submit(-2), return_exceptions=True)
    assert results[0] == 10 and isinstance(results[1], ValueError)
    server.fail_next = True
    failed = await asyncio.gather(gatherer.submit(3), gatherer.submit(4), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in failed)
    assert await gatherer.submit(5) == 50  # the sender goes on after a failed request


async def test_close_cancels_what_is_in_flight_and_what_is_queued() -> None:
    server = Server()
    gatherer = Gatherer(server.send, max_batch=1)
    in_flight = asyncio.create_task(gatherer.submit(1))
    queued = asyncio.create_task(gatherer.submit(2))  # queued before the sender runs
    await server.arrived.wait()  # 1 is in flight, waiting on the server; 2 waits behind
    assert server.batches == [[1]]
    await gatherer.close()
    for call in (in_flight, queued):
        with pytest.raises(asyncio.CancelledError):
            await call
