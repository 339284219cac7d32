"""`BatchingProducer`: single-record sends gathered into batches, as Kafka's producer does
with its record accumulator.

    async with BatchingProducer(log) as producer:
        partition, offset = await producer.send("orders", b"a", key=b"customer-7")

Each partition has its own `Gatherer` (cluster/client/gathering.py): one produce request
in flight, the records that arrive meanwhile going together in the next, so a partition's
records keep the order they were sent in. Each send is answered with its own offset once
its batch is committed (acks=ALL), or fails with its batch's error. Batches of several
partitions made ready together go to their common leader in one call (`PerLeader`,
cluster/client/per_leader.py), as Kafka's producer sends one request per broker.
"""

from __future__ import annotations

import asyncio
import functools
import itertools

from faultlab.log.v1 import log_pb2

from cluster.client.gathering import Gatherer
from cluster.client.log import ALL, LogClient, partition_for
from cluster.client.per_leader import PerLeader

MAX_BATCH = 1000  # records per request (the broker takes up to 10,000 and 4 MiB)


class BatchingProducer:
    def __init__(self, log: LogClient, *, acks: int = ALL, max_batch: int = MAX_BATCH) -> None:
        self.log = log
        self.acks = acks
        self.max_batch = max_batch
        self._partitions: dict[tuple[str, int], Gatherer[log_pb2.Record, int]] = {}
        self._round_robin = itertools.count()
        self._per_leader = PerLeader(log)

    @property
    def requests(self) -> int:
        """Batches sent (one per partition per request), for whoever wants to see the
        batching."""
        return sum(g.requests for g in self._partitions.values())

    @property
    def calls(self) -> int:
        """gRPC calls made for those batches: fewer when batches of several partitions
        went to their leader together."""
        return self._per_leader.calls

    async def __aenter__(self) -> BatchingProducer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the senders; sends still queued fail with CancelledError."""
        await asyncio.gather(*(g.close() for g in self._partitions.values()))
        await self._per_leader.close()

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, partition: int | None = None
    ) -> tuple[int, int]:
        """(partition, offset) of the record once committed."""
        if partition is None:
            count = await self.log.partition_count(topic)
            partition = partition_for(key, count) if key else next(self._round_robin) % count
        where = (topic, partition)
        gatherer = self._partitions.get(where)
        if gatherer is None:
            gatherer = self._partitions[where] = Gatherer(
                functools.partial(self._produce, topic, partition), self.max_batch
            )
        return partition, await gatherer.submit(log_pb2.Record(key=key or b"", value=value))

    async def _produce(
        self, topic: str, partition: int, records: list[log_pb2.Record]
    ) -> list[int]:
        req = log_pb2.ProduceRequest(
            topic=topic, partition=partition, records=records, acks=self.acks
        )
        resp = await self._per_leader.produce(req)
        base = resp.base_offset
        return [base + i if base >= 0 else -1 for i in range(len(records))]
