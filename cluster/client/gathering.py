"""`Gatherer`: calls made one at a time, carried to the server many to a request.

    gatherer = Gatherer(send_batch)        # send_batch(items) -> one result per item
    result = await gatherer.submit(item)

A request costs far more than an operation here (docs/performance.md: the gRPC ceiling
is a few thousand requests a second), so concurrent callers share requests. One request
is in flight at a time: items that arrive meanwhile wait and go together in the next (up
to `max_batch`), so batches grow with the load and no linger timer delays a lone item.
One request at a time also keeps the items in the order they were submitted, which the
log's partitions and the KV store's sessions both rely on.

`send_batch` answers each item with its result, or with an exception for that item
alone; if it raises, every item of the batch fails with that error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
SendBatch = Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]]


class Gatherer(Generic[Item, Result]):
    def __init__(self, send_batch: SendBatch[Item, Result], max_batch: int) -> None:
        self._send_batch = send_batch
        self.max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._in_flight: list[tuple[Item, asyncio.Future[Result]]] = []
        self._ready = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.requests = 0  # batches sent, for whoever wants to see the gathering

    async def submit(self, item: Item) -> Result:
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_forever())
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._ready.set()
        return await future

    async def close(self) -> None:
        """Stop sending; items in flight or still queued fail with CancelledError (an
        item in flight may still have been applied)."""
        in_flight = self._in_flight  # the sender forgets it as it is cancelled
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        for _, future in in_flight + self._queue:
            future.cancel()

    async def _send_forever(self) -> None:
        while True:
            await self._ready.wait()
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            if not self._queue:
                self._ready.clear()
            if not batch:
                continue
            self.requests += 1
            self._in_flight = batch
            try:
                results = await self._send_batch([item for item, _ in batch])
            except Exception as e:  # every item of the batch fails as the request did
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            finally:
                self._in_flight = []
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
