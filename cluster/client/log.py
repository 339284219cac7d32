"""The log client: topics, produce (plain or idempotent), fetch and subscribe, each call
sent to the leader of the partition's own Raft group.

    async with LogClient.for_topology(topology) as log:
        await log.create_topic("orders", partitions=6)
        await log.wait_until_ready("orders")
        sent = await log.produce("orders", [b"a", b"b"], key=b"customer-7")
        fetched = await log.fetch("orders", sent.partition, sent.base_offset)

        producer = await log.init_producer("billing")       # idempotent: a retry after a
        await producer.send("orders", 0, [b"c"])            # lost answer is written once

A partition's callers know its replicas from the topic's metadata (cached, refreshed when
a node says the topic is unknown) and follow NOT_LEADER answers like every faultlab call.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from faultlab.kv.v1 import kv_pb2
from faultlab.log.v1 import log_pb2, log_pb2_grpc

from cluster.client import errors
from cluster.client.base import Client
from cluster.client.call import RETRY_BACKOFF, GroupCaller, worth_retrying
from cluster.client.stubs import stub

T = TypeVar("T")

META_GROUP = "log/meta"
GROUPS_GROUP = "log/groups"  # the consumer-group coordinator
ALL = log_pb2.ALL
LEADER = log_pb2.LEADER
Fence = tuple[str, int]
Records = Sequence[bytes] | Sequence[tuple[bytes, bytes]]  # values, or (key, value) pairs
READY_POLL_S = 0.05
_UNKNOWN_TOPIC = errors.Reason.Value("UNKNOWN_TOPIC")
_NOT_LEADER = errors.Reason.Value("NOT_LEADER")


def partition_for(key: bytes, partitions: int) -> int:
    """The partition a keyed record goes to: the same hash the broker uses for -1."""
    return zlib.crc32(key) % partitions


class LogClient(Client):
    TOPOLOGY_GROUP = "log"
    DEFAULT_TIMEOUT_S = 5.0

    def __init__(self, addresses: dict[str, str], **kw: Any) -> None:
        """`addresses`: node id -> the address clients dial it at, for every log node (or
        every gateway: `for_gateway`). The rest: `Client`'s."""
        super().__init__(addresses, **kw)
        self._meta = self.caller(META_GROUP)
        self._coordinator = self.caller(GROUPS_GROUP)
        self._topics: dict[str, log_pb2.Topic] = {}
        self._partitions: dict[str, GroupCaller] = {}  # Raft group id -> its caller
        self._round_robin = itertools.count()

    # -- topics -------------------------------------------------------------------------------

    async def create_topic(
        self,
        name: str,
        partitions: int,
        replication: int = 0,
        retention: log_pb2.Retention | None = None,
    ) -> log_pb2.Topic:
        req = log_pb2.CreateTopicRequest(
            name=name, partitions=partitions, replication=replication, retention=retention
        )
        topic: log_pb2.Topic = await self._meta.call(
            lambda ch: _stub(ch).CreateTopic(req, timeout=self.timeout_s)
        )
        self._topics[name] = topic
        return topic

    async def delete_topic(self, name: str) -> None:
        req = log_pb2.DeleteTopicRequest(name=name)
        await self._meta.call(lambda ch: _stub(ch).DeleteTopic(req, timeout=self.timeout_s))
        self._topics.pop(name, None)

    async def list_topics(self) -> list[log_pb2.Topic]:
        req = log_pb2.ListTopicsRequest()
        resp = await self._meta.call(lambda ch: _stub(ch).ListTopics(req, timeout=self.timeout_s))
        return list(resp.topics)

    async def describe_topic(self, name: str) -> log_pb2.Topic:
        """The topic with, per partition, what the node hosting it reports (its leader,
        high watermark and log start offset), asked of each partition's leader."""
        topic = await self._topic(name, refresh=True)
        described = log_pb2.Topic()
        described.CopyFrom(topic)
        req = log_pb2.DescribeTopicRequest(name=name)
        for p in described.partitions:
            try:
                here: log_pb2.Topic = await self._partition(topic, p.partition).call(
                    lambda ch: _stub(ch).DescribeTopic(req, timeout=self.timeout_s)
                )
            except grpc.aio.AioRpcError:
                continue  # no replica answered: leader unknown, as described by the metadata
            p.CopyFrom(here.partitions[p.partition])
        return described

    async def partition_count(self, name: str) -> int:
        """The topic's partitions, from the cached metadata."""
        return len((await self._topic(name)).partitions)

    async def wait_until_ready(
        self,
        name: str,
        timeout_s: float = 30.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Until every partition of the topic has a leader that serves it; `on_progress`
        hears (partitions ready, partitions) as they become ready."""
        topic = await self._topic(name)
        deadline = time.monotonic() + timeout_s
        for ready, p in enumerate(topic.partitions):
            if on_progress is not None:
                on_progress(ready, len(topic.partitions))
            while True:
                try:
                    await self.fetch(name, p.partition, 0)
                    break
                except grpc.aio.AioRpcError as e:
                    if errors.reason_of(e) == errors.Reason.Value("OUT_OF_RANGE"):
                        break  # it serves; retention already moved its start
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(READY_POLL_S)

    # -- producing ----------------------------------------------------------------------------

    async def produce(
        self,
        topic: str,
        records: Records | list[log_pb2.Record],
        *,
        partition: int | None = None,
        key: bytes | None = None,
        acks: int = ALL,
        producer: log_pb2.ProducerBatch | None = None,
        fence: Fence | None = None,
    ) -> log_pb2.ProduceResponse:
        """Write `records` (values, or (key, value) pairs) as one batch to `partition`,
        or the partition of `key` (or of the first record's key), or the next one round
        robin."""
        batch = _records(records, key)
        meta = await self._topic(topic)
        if partition is None:
            first_key = batch[0].key
            count = len(meta.partitions)
            partition = (
                partition_for(first_key, count) if first_key else next(self._round_robin) % count
            )
        req = log_pb2.ProduceRequest(
            topic=topic,
            partition=partition,
            records=batch,
            acks=acks,
            producer=producer,
            fence=kv_pb2.Fence(name=fence[0], token=fence[1]) if fence else None,
        )
        return await self.send_produce(req)

    async def send_produce(self, req: log_pb2.ProduceRequest) -> log_pb2.ProduceResponse:
        """One Produce of a request made whole (a partition given), to its leader."""
        return await self._on_partition(
            req.topic, req.partition, lambda s: s.Produce(req, timeout=self.timeout_s)
        )

    async def partition_leader(self, topic: str, partition: int) -> str | None:
        """The node this client last found leading `partition`; None before it knows."""
        return self._partition(await self._topic(topic), partition).leader

    async def produce_many(
        self, node: str, batches: list[log_pb2.ProduceRequest]
    ) -> list[log_pb2.ProduceResult]:
        """One ProduceMany call to `node`, not retried: each batch's result on its own
        (a batch for a partition `node` does not lead comes back NOT_LEADER)."""
        caller = self._partition(await self._topic(batches[0].topic), batches[0].partition)
        req = log_pb2.ProduceManyRequest(batches=batches)
        resp = await _stub(caller.channel(node)).ProduceMany(req, timeout=self.timeout_s)
        return list(resp.results)

    async def init_producer(self, name: str = "") -> IdempotentProducer:
        """An idempotent producer. The same `name` again fences the previous instance."""
        req = log_pb2.InitProducerRequest(name=name)
        resp = await self._meta.call(lambda ch: _stub(ch).InitProducer(req, timeout=self.timeout_s))
        return IdempotentProducer(self, resp.producer_id, resp.epoch)

    # -- consuming ----------------------------------------------------------------------------

    async def fetch(
        self, topic: str, partition: int, offset: int, *, max_bytes: int = 0, max_wait_ms: int = 0
    ) -> log_pb2.FetchResponse:
        req = log_pb2.FetchRequest(
            topic=topic,
            partition=partition,
            offset=offset,
            max_bytes=max_bytes,
            max_wait_ms=max_wait_ms,
        )
        timeout_s = self.timeout_s + max_wait_ms / 1000
        return await self._on_partition(topic, partition, lambda s: s.Fetch(req, timeout=timeout_s))

    async def subscribe(
        self, topic: str, partition: int, offset: int, *, max_bytes: int = 0
    ) -> AsyncIterator[log_pb2.FetchedRecord]:
        """Every committed record from `offset` on, as it commits. After a leader change
        (or a lost connection) it finds the new leader and resumes after the last record
        it yielded, however long finding it takes; it raises what a fetch would refuse for
        good (OUT_OF_RANGE, UNKNOWN_TOPIC, ...)."""
        down = 0  # fetches in a row that found no leader
        while True:
            try:
                await self.fetch(topic, partition, offset, max_bytes=1)  # finds the leader
            except grpc.aio.AioRpcError as e:
                # A subscription outlives a long election: it keeps looking, as Kafka's
                # consumer does on LEADER_NOT_AVAILABLE, and fails only on a definite no.
                if not worth_retrying(e):
                    raise
                await asyncio.sleep(RETRY_BACKOFF.delay_s(down, self._rng))
                down += 1
                continue
            down = 0
            caller = self._partition(await self._topic(topic), partition)
            leader = caller.leader
            assert leader is not None, "a fetch that succeeded leaves its node as the leader"
            req = log_pb2.FetchRequest(
                topic=topic, partition=partition, offset=offset, max_bytes=max_bytes
            )
            stream = _stub(caller.channel(leader)).Subscribe(req)
            try:
                async for response in stream:
                    for record in response.records:
                        yield record
                        offset = record.offset + 1
            except grpc.aio.AioRpcError as e:
                if errors.definite(e) and errors.reason_of(e) != _NOT_LEADER:
                    raise
                caller.leaders.set(caller.group, errors.leader_hint(e) or None)
            finally:
                stream.cancel()

    # -- consumer groups (the coordinator's calls; GroupConsumer puts them together) ---------

    async def join_group(
        self,
        group: str,
        topics: Sequence[str],
        *,
        member_id: str = "",
        client_id: str = "",
        session_timeout_ms: int = 0,
        assignor: int = log_pb2.RANGE,
    ) -> log_pb2.JoinGroupResponse:
        req = log_pb2.JoinGroupRequest(
            group=group,
            member_id=member_id,
            client_id=client_id,
            topics=topics,
            session_timeout_ms=session_timeout_ms,
            assignor=assignor,
        )
        return await self._coordinator.call(
            lambda ch: _stub(ch).JoinGroup(req, timeout=self.timeout_s)
        )

    async def heartbeat(
        self, group: str, member_id: str, generation: int
    ) -> log_pb2.HeartbeatResponse:
        req = log_pb2.HeartbeatRequest(group=group, member_id=member_id, generation=generation)
        return await self._coordinator.call(
            lambda ch: _stub(ch).Heartbeat(req, timeout=self.timeout_s)
        )

    async def leave_group(self, group: str, member_id: str) -> None:
        req = log_pb2.LeaveGroupRequest(group=group, member_id=member_id)
        await self._coordinator.call(lambda ch: _stub(ch).LeaveGroup(req, timeout=self.timeout_s))

    async def commit_offsets(
        self, group: str, member_id: str, generation: int, offsets: dict[tuple[str, int], int]
    ) -> None:
        req = log_pb2.CommitOffsetsRequest(
            group=group,
            member_id=member_id,
            generation=generation,
            offsets=[
                log_pb2.CommittedOffset(topic=t, partition=p, offset=o)
                for (t, p), o in sorted(offsets.items())
            ],
        )
        await self._coordinator.call(
            lambda ch: _stub(ch).CommitOffsets(req, timeout=self.timeout_s)
        )

    async def fetch_offsets(self, group: str) -> dict[tuple[str, int], int]:
        req = log_pb2.FetchOffsetsRequest(group=group)
        resp = await self._coordinator.call(
            lambda ch: _stub(ch).FetchOffsets(req, timeout=self.timeout_s)
        )
        return {(o.topic, o.partition): o.offset for o in resp.offsets}

    async def list_groups(self) -> list[log_pb2.ConsumerGroup]:
        req = log_pb2.ListGroupsRequest()
        resp = await self._coordinator.call(
            lambda ch: _stub(ch).ListGroups(req, timeout=self.timeout_s)
        )
        return list(resp.groups)

    # -- routing ------------------------------------------------------------------------------

    async def _on_partition(
        self,
        topic: str,
        partition: int,
        attempt: Callable[[log_pb2_grpc.LogStub], Awaitable[T]],
    ) -> T:
        meta = await self._topic(topic)
        try:
            return await self._partition(meta, partition).call(lambda ch: attempt(_stub(ch)))
        except grpc.aio.AioRpcError as e:
            if errors.reason_of(e) == _UNKNOWN_TOPIC:
                self._topics.pop(topic, None)  # deleted, or recreated: ask again next time
            raise

    async def _topic(self, name: str, refresh: bool = False) -> log_pb2.Topic:
        topic = None if refresh else self._topics.get(name)
        if topic is None:
            req = log_pb2.DescribeTopicRequest(name=name)
            topic = await self._meta.call(
                lambda ch: _stub(ch).DescribeTopic(req, timeout=self.timeout_s)
            )
            self._topics[name] = topic
        return topic

    def _partition(self, topic: log_pb2.Topic, partition: int) -> GroupCaller:
        if not 0 <= partition < len(topic.partitions):
            # Let the broker say so, with its reason: any replica of partition 0 will.
            partition_meta = topic.partitions[0]
            return self.caller(partition_meta.group, partition_meta.replicas)
        p = topic.partitions[partition]
        caller = self._partitions.get(p.group)
        if caller is None:
            caller = self.caller(p.group, p.replicas)
            if not self.via_gateway:  # start at the preferred leader, the usual one
                caller.leaders.set(p.group, caller.leader or p.replicas[0])
            self._partitions[p.group] = caller
        return caller


class IdempotentProducer:
    """Kafka's idempotent producer (KIP-98): every batch carries the producer's id, epoch
    and per-partition sequence number, so the broker writes a retried batch once.

    A batch whose outcome is unknown stays pending on its partition and is sent again
    (same sequence) before the next one: either it landed and the broker answers it as a
    duplicate, or it is written now; in both cases in order."""

    def __init__(self, client: LogClient, producer_id: int, epoch: int) -> None:
        self.client = client
        self.producer_id = producer_id
        self.epoch = epoch
        self._next_seq: dict[tuple[str, int], int] = {}
        self._pending: dict[tuple[str, int], list[log_pb2.Record]] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    async def send(
        self,
        topic: str,
        partition: int,
        records: Records,
        *,
        acks: int = ALL,
        fence: Fence | None = None,
    ) -> log_pb2.ProduceResponse:
        where = (topic, partition)
        lock = self._locks.setdefault(where, asyncio.Lock())
        async with lock:  # one batch in flight per partition keeps sequences in order
            pending = self._pending.pop(where, None)
            if pending is not None:
                await self._send(where, pending, acks, fence)
            return await self._send(where, _records(records, None), acks, fence)

    async def _send(
        self, where: tuple[str, int], batch: list[log_pb2.Record], acks: int, fence: Fence | None
    ) -> log_pb2.ProduceResponse:
        seq = self._next_seq.get(where, 0)
        ids = log_pb2.ProducerBatch(
            producer_id=self.producer_id, epoch=self.epoch, first_sequence=seq
        )
        try:
            resp = await self.client.produce(
                where[0], batch, partition=where[1], acks=acks, producer=ids, fence=fence
            )
        except grpc.aio.AioRpcError as e:
            if not errors.definite(e):
                self._pending[where] = batch
            raise
        self._next_seq[where] = seq + len(batch)
        return resp


def _records(records: Records | list[log_pb2.Record], key: bytes | None) -> list[log_pb2.Record]:
    out = []
    for r in records:
        if isinstance(r, log_pb2.Record):
            out.append(r)
        elif isinstance(r, tuple):
            out.append(log_pb2.Record(key=r[0], value=r[1]))
        else:
            out.append(log_pb2.Record(key=key or b"", value=r))
    return out


def _stub(channel: grpc.aio.Channel) -> log_pb2_grpc.LogStub:
    return stub(channel, log_pb2_grpc.LogStub)
