"""`BatchingProducer`: single-record sends gathered into batches, as Kafka's producer does
with its record accumulator.

    async with BatchingProducer(log) as producer:
        partition, offset = await producer.send("orders", b"a", key=b"customer-7")

A request costs far more than a record here (docs/performance.md: the gRPC ceiling is a
few thousand requests a second), so concurrent sends to one partition share a request.
Each partition has one request in flight at a time: records that arrive meanwhile wait
and go together in the next (up to `max_batch`), so batches grow with the load and no
linger timer delays a lone record. One request at a time also keeps a partition's records
in the order they were sent. Each send is answered with its own offset once its batch is
committed (acks=ALL), or fails with its batch's error.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from faultlab.log.v1 import log_pb2

from cluster.client.log import ALL, LogClient, partition_for

MAX_BATCH = 1000  # records per request (the broker takes up to 10,000 and 4 MiB)


@dataclass
class _Partition:
    queue: list[tuple[log_pb2.Record, asyncio.Future[int]]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    sender: asyncio.Task[None] | None = None


class BatchingProducer:
    def __init__(self, log: LogClient, *, acks: int = ALL, max_batch: int = MAX_BATCH) -> None:
        self.log = log
        self.acks = acks
        self.max_batch = max_batch
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._round_robin = itertools.count()
        self.requests = 0  # produce requests sent, for whoever wants to see the batching

    async def __aenter__(self) -> BatchingProducer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the senders; sends still queued fail with CancelledError."""
        for p in self._partitions.values():
            if p.sender is not None:
                p.sender.cancel()
        await asyncio.gather(
            *(p.sender for p in self._partitions.values() if p.sender), return_exceptions=True
        )
        for p in self._partitions.values():
            for _, future in p.queue:
                future.cancel()

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, partition: int | None = None
    ) -> tuple[int, int]:
        """(partition, offset) of the record once committed."""
        if partition is None:
            count = await self.log.partition_count(topic)
            partition = partition_for(key, count) if key else next(self._round_robin) % count
        where = (topic, partition)
        p = self._partitions.get(where)
        if p is None:
            p = self._partitions[where] = _Partition()
            p.sender = asyncio.create_task(self._send_forever(where, p))
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        p.queue.append((log_pb2.Record(key=key or b"", value=value), future))
        p.ready.set()
        return partition, await future

    async def _send_forever(self, where: tuple[str, int], p: _Partition) -> None:
        topic, partition = where
        while True:
            await p.ready.wait()
            batch, p.queue = p.queue[: self.max_batch], p.queue[self.max_batch :]
            if not p.queue:
                p.ready.clear()
            if not batch:
                continue
            self.requests += 1
            try:
                resp = await self.log.produce(
                    topic, [r for r, _ in batch], partition=partition, acks=self.acks
                )
            except Exception as e:  # every send of the batch fails as the request did
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            for i, (_, future) in enumerate(batch):
                if not future.done():
                    future.set_result(resp.base_offset + i if resp.base_offset >= 0 else -1)
