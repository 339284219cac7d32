"""`PerLeader`: produce requests made ready in the same loop turn for partitions with one
leader go to it in one ProduceMany call, as Kafka's producer drains every partition it has
ready for a broker into one ProduceRequest.

    per_leader = PerLeader(log)
    response = await per_leader.produce(request)  # a ProduceRequest with its partition

A request whose partition's leader the client does not know yet, or that is the only one
ready for its leader, goes as a plain Produce. A batch refused for good (INVALID,
UNKNOWN_TOPIC, PRODUCER_FENCED...) fails with that refusal, as a plain Produce would; one
refused for now (NOT_LEADER after a leader change, NOT_APPLIED, an unknown outcome), and
every batch of a call that failed whole, is sent again as a plain Produce, which follows
leaders and retries as every produce does: a batch sees what it would have seen without
the coalescing.
"""

from __future__ import annotations

import asyncio

from faultlab.log.v1 import log_pb2

from cluster.client import errors
from cluster.client.log import LogClient
from services.runtime.leader_following import Decision, decision_for

Pending = list[tuple[log_pb2.ProduceRequest, asyncio.Future[log_pb2.ProduceResponse]]]
# One call's batches: past its first batch, at most this many bytes (a gRPC message may be
# 8 MiB, and one batch up to 4 MiB) and the broker's MAX_PRODUCE_MANY_BATCHES.
CALL_BYTES = 4 * 1024 * 1024
CALL_BATCHES = 1000


class PerLeader:
    def __init__(self, log: LogClient) -> None:
        self.log = log
        self._ready: dict[str, Pending] = {}  # leader -> requests made ready this turn
        self._flush_scheduled = False
        self._calls: set[asyncio.Task[None]] = set()
        self.calls = 0  # gRPC calls made: ProduceMany and plain Produce

    async def produce(self, req: log_pb2.ProduceRequest) -> log_pb2.ProduceResponse:
        leader = None
        if not self.log.via_gateway:  # a gateway routes each call by one partition
            leader = await self.log.partition_leader(req.topic, req.partition)
        if leader is None:
            self.calls += 1
            return await self.log.send_produce(req)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[log_pb2.ProduceResponse] = loop.create_future()
        self._ready.setdefault(leader, []).append((req, future))
        if not self._flush_scheduled:  # after every sender of this turn has added its own
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    async def close(self) -> None:
        for call in list(self._calls):
            call.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)

    def _flush(self) -> None:
        self._flush_scheduled = False
        ready, self._ready = self._ready, {}
        for leader, pending in ready.items():
            for part in _calls_of(pending):
                call = asyncio.create_task(self._send(leader, part))
                self._calls.add(call)
                call.add_done_callback(self._calls.discard)

    async def _send(self, leader: str, pending: Pending) -> None:
        if len(pending) == 1:
            await self._alone(*pending[0])
            return
        self.calls += 1
        try:
            results = await self.log.produce_many(leader, [req for req, _ in pending])
        except Exception:  # nothing answered per batch: each goes on its own, and says why
            await asyncio.gather(*(self._alone(req, future) for req, future in pending))
            return
        again = []
        for (req, future), result in zip(pending, results, strict=True):
            if future.done():
                continue  # its caller gave up
            if result.HasField("produced"):
                future.set_result(result.produced)
                continue
            refused = errors.from_status(result.error)
            if decision_for(refused) is Decision.ANSWER:
                future.set_exception(refused)
            else:
                again.append(self._alone(req, future))
        await asyncio.gather(*again)

    async def _alone(
        self, req: log_pb2.ProduceRequest, future: asyncio.Future[log_pb2.ProduceResponse]
    ) -> None:
        """`req` as a plain Produce, its outcome to `future`."""
        self.calls += 1
        try:
            response = await self.log.send_produce(req)
        except Exception as e:  # the caller's to see, as from a plain Produce
            if not future.done():
                future.set_exception(e)
            return
        if not future.done():
            future.set_result(response)


def _calls_of(pending: Pending) -> list[Pending]:
    """`pending` cut into calls within CALL_BYTES and CALL_BATCHES, in order."""
    calls: list[Pending] = [[]]
    size = 0
    for item in pending:
        item_bytes = item[0].ByteSize()
        current = calls[-1]
        if current and (size + item_bytes > CALL_BYTES or len(current) >= CALL_BATCHES):
            calls.append([])
            size = 0
        calls[-1].append(item)
        size += item_bytes
    return calls
