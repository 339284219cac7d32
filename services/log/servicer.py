"""`faultlab.log.v1.Log`: topics through the metadata group, records through each
partition's own group, consumer groups through the coordinator's (group_rpcs.py).
Failures are raised from the error tree and become statuses at the runtime's one edge
(services/runtime/status.py)."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import grpc
from faultlab.log.v1 import log_pb2, log_pb2_grpc

from services.log import commands, results
from services.log.commands import (
    META_COMMANDS,
    PARTITION_COMMANDS,
    CreateTopic,
    DeleteTopic,
    InitProducer,
    MetaCommand,
    Produce,
    ProducerSeq,
)
from services.log.coordinator import Coordinator
from services.log.group_rpcs import GroupRpcs
from services.log.meta import MetaState
from services.log.partition import PartitionState
from services.log.partitions import PartitionHost
from services.log.results import Produced, ProducerInitialized, TopicCreated, TopicDeleted
from services.log.topic import TopicMeta
from services.replicated import ReplicatedGroup, UnknownGroup
from services.replicated.fences import Fence
from services.replicated.refusal import answered
from services.runtime import errors, status
from services.runtime.deadlines import time_left

R = TypeVar("R")


class LogServicer(GroupRpcs, log_pb2_grpc.LogServicer):  # type: ignore[misc]
    def __init__(
        self,
        meta_group: ReplicatedGroup[MetaState],
        partitions: PartitionHost,
        coordinator: Coordinator,
        log_nodes: tuple[str, ...],
        client_address: Callable[[str], str],
        fence_commits: bool = True,
    ) -> None:
        self._coordinator = coordinator
        self._fence_commits = fence_commits
        self._meta_group = meta_group
        self._meta = meta_group.state
        self._partitions = partitions
        self._log_nodes = log_nodes
        self._client_address = client_address

    # -- for the Kafka door (services/log/kafka), which stands on the same broker -----------

    @property
    def meta_group(self) -> ReplicatedGroup[MetaState]:
        return self._meta_group

    @property
    def partitions(self) -> PartitionHost:
        return self._partitions

    @property
    def coordinator(self) -> Coordinator:
        return self._coordinator

    @property
    def log_nodes(self) -> tuple[str, ...]:
        return self._log_nodes

    @property
    def fence_commits(self) -> bool:
        return self._fence_commits

    # -- topics -----------------------------------------------------------------------------

    async def CreateTopic(
        self, request: log_pb2.CreateTopicRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.Topic:
        commands.check_topic_name(request.name)
        commands.check_partitions(request.partitions)
        replication = commands.replication(request.replication, len(self._log_nodes))
        r = request.retention
        commands.check_retention(r.max_records, r.max_bytes, r.max_age_ms)
        cmd = CreateTopic(
            request.name,
            request.partitions,
            replication,
            (r.max_records, r.max_bytes, r.max_age_ms),
            self._log_nodes,
        )
        result = await self.meta_write(cmd, context, TopicCreated)
        return self._describe(result.topic)

    async def DeleteTopic(
        self, request: log_pb2.DeleteTopicRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.DeleteTopicResponse:
        commands.check_topic_name(request.name)
        result = await self.meta_write(DeleteTopic(request.name), context, TopicDeleted)
        if not result.deleted:
            raise _unknown_topic(request.name)
        return log_pb2.DeleteTopicResponse()

    async def ListTopics(
        self, request: log_pb2.ListTopicsRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.ListTopicsResponse:
        await self._meta_group.linearizable_read(context)
        topics = sorted(self._meta.topics.values(), key=lambda t: t.name)
        return log_pb2.ListTopicsResponse(topics=[self._describe(t) for t in topics])

    async def DescribeTopic(
        self, request: log_pb2.DescribeTopicRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.Topic:
        commands.check_topic_name(request.name)
        return self._describe(await self.topic(request.name, context))

    # -- producing ----------------------------------------------------------------------------

    async def InitProducer(
        self, request: log_pb2.InitProducerRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.InitProducerResponse:
        if len(request.name.encode()) > commands.MAX_PRODUCER_NAME_BYTES:
            raise errors.InvalidArgument(
                f"producer name over {commands.MAX_PRODUCER_NAME_BYTES} bytes"
            )
        cmd = InitProducer(request.name)
        result = await self.meta_write(cmd, context, ProducerInitialized)
        return log_pb2.InitProducerResponse(producer_id=result.producer_id, epoch=result.epoch)

    async def Produce(
        self, request: log_pb2.ProduceRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.ProduceResponse:
        commands.check_topic_name(request.topic)
        records = [(r.key, r.value) for r in request.records]
        commands.check_batch(records)
        if request.acks not in (log_pb2.ALL, log_pb2.LEADER):
            raise errors.InvalidArgument(f"acks {request.acks} is neither ALL nor LEADER")
        topic = await self.topic(request.topic, context)
        partition = request.partition
        if partition == -1:
            partition = zlib.crc32(records[0][0]) % topic.partitions if records[0][0] else 0
        group = self.leading(topic, partition)
        producer = None
        if request.HasField("producer"):
            producer = await self.confirmed_producer(request.producer, context)
        fence = None
        if request.HasField("fence"):
            if not request.fence.name:
                raise errors.InvalidArgument("a fence needs a name")
            fence = Fence(request.fence.name, request.fence.token)
        cmd = Produce(records, _now_ms(), producer, fence)
        encoded = PARTITION_COMMANDS.encode(cmd)
        base = self._partitions.reserve(group, len(records))
        if request.acks == log_pb2.LEADER:
            await group.propose_appended(encoded, context)
            return log_pb2.ProduceResponse(
                partition=partition, base_offset=base, log_append_time_ms=cmd.ts
            )
        result = answered(await group.propose(encoded, context), Produced)
        return log_pb2.ProduceResponse(
            partition=partition,
            base_offset=result.base_offset,
            duplicate=result.duplicate,
            log_append_time_ms=result.ts,
        )

    async def ProduceMany(
        self, request: log_pb2.ProduceManyRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.ProduceManyResponse:
        """Every batch at once, each as Produce takes it and answered on its own: one
        gRPC call per leader where there was one per partition (Kafka's ProduceRequest)."""
        if not request.batches:
            raise errors.InvalidArgument("ProduceMany needs at least one batch")
        if len(request.batches) > commands.MAX_PRODUCE_MANY_BATCHES:
            raise errors.InvalidArgument(
                f"{len(request.batches)} batches; ProduceMany takes at most "
                f"{commands.MAX_PRODUCE_MANY_BATCHES}"
            )
        outcomes = await asyncio.gather(*(self._produce_one(b, context) for b in request.batches))
        return log_pb2.ProduceManyResponse(results=outcomes)

    async def _produce_one(
        self, batch: log_pb2.ProduceRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.ProduceResult:
        try:
            return log_pb2.ProduceResult(produced=await self.Produce(batch, context))
        except errors.ServiceError as e:  # what Produce's caller would have been told
            return log_pb2.ProduceResult(error=status.to_rpc_status(e))

    async def confirmed_producer(
        self, batch: log_pb2.ProducerBatch, context: grpc.aio.ServicerContext
    ) -> ProducerSeq:
        """The batch's producer ids, once its epoch is known to be the newest. This node's
        copy of the metadata may lag (it follows another Raft group, perhaps over a cut
        link), so an epoch that looks current here is confirmed with a read index of the
        metadata group first: an InitProducer answered before this call began is then
        seen, and its previous epoch refused. Without the confirmation an old epoch was
        written after the new one had been answered (issue 30)."""
        if batch.first_sequence < 0 or batch.epoch < 0:
            raise errors.InvalidArgument("producer epoch and first_sequence must be >= 0")
        epoch = self._meta.epoch_of(batch.producer_id)
        if epoch is None or batch.epoch >= epoch:
            await self._meta_group.caught_up(context)  # NoQuorum when it cannot be confirmed
            epoch = self._meta.epoch_of(batch.producer_id)
        if epoch is None:
            raise errors.UnknownProducer(
                f"producer id {batch.producer_id} was never issued; call InitProducer"
            )
        if batch.epoch < epoch:
            raise results.producer_fenced(batch.producer_id, epoch).error()
        return ProducerSeq(batch.producer_id, batch.epoch, batch.first_sequence)

    # -- consuming ----------------------------------------------------------------------------

    async def Fetch(
        self, request: log_pb2.FetchRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.FetchResponse:
        commands.check_topic_name(request.topic)
        commands.check_fetch(request.offset, request.max_bytes, request.max_wait_ms)
        topic = await self.topic(request.topic, context)
        group = self.leading(topic, request.partition)
        group.lease_read()
        state = group.state
        _check_offset(state, request.offset)
        wait_s = min(request.max_wait_ms / 1000, time_left(context))
        if request.offset == state.high_watermark and wait_s > 0:
            await _records_after(state, request.offset, wait_s)
            group.lease_read()  # still the leader after the wait
        return _fetched(state, request.offset, request.max_bytes)

    async def Subscribe(
        self, request: log_pb2.FetchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[log_pb2.FetchResponse]:
        commands.check_topic_name(request.topic)
        commands.check_fetch(request.offset, request.max_bytes, 0)
        topic = await self.topic(request.topic, context)
        group = self.leading(topic, request.partition)
        state = group.state
        offset = request.offset
        while True:
            group.lease_read()
            _check_offset(state, offset)
            if offset == state.high_watermark:
                await _records_after(state, offset, None)
                continue
            response = _fetched(state, offset, request.max_bytes)
            offset = response.records[-1].offset + 1
            yield response

    # -- where things are ---------------------------------------------------------------------

    async def topic(self, name: str, context: grpc.aio.ServicerContext) -> TopicMeta:
        """The topic as this node's metadata has it (like a Kafka broker's metadata cache),
        or, when it has none, as the metadata leader confirms: one created a moment ago
        is then found, and UNKNOWN_TOPIC is the truth."""
        topic = self._meta.topics.get(name)
        if topic is None:  # perhaps created a moment ago and not yet applied here
            await self._meta_group.caught_up(context)
            topic = self._meta.topics.get(name)
        if topic is None:
            raise _unknown_topic(name)
        return topic

    def leading(self, topic: TopicMeta, partition: int) -> ReplicatedGroup[PartitionState]:
        """The partition's group on this node, or the refusal that sends the caller on."""
        if not 0 <= partition < topic.partitions:
            raise errors.UnknownTopic(
                f"topic {topic.name!r} has partitions 0..{topic.partitions - 1}, not {partition}",
                topic=topic.name,
                partition=str(partition),
                partitions=str(topic.partitions),
            )
        try:
            return self._partitions.group(topic.group(partition))
        except UnknownGroup:
            pass
        replicas = topic.replicas[partition]
        me = self._meta_group.node_id
        if me in replicas:  # created in the metadata, its group not started here yet
            raise errors.NotApplied(f"partition {partition} of {topic.name!r} is starting here")
        preferred = replicas[0]
        raise errors.NotLeader(me, preferred, self._client_address(preferred))

    async def meta_write(
        self, cmd: MetaCommand, context: grpc.aio.ServicerContext, answer: type[R]
    ) -> R:
        applied = await self._meta_group.propose(META_COMMANDS.encode(cmd), context)
        return answered(applied, answer)

    def _describe(self, topic: TopicMeta) -> log_pb2.Topic:
        retention = log_pb2.Retention(
            max_records=topic.retention[0],
            max_bytes=topic.retention[1],
            max_age_ms=topic.retention[2],
        )
        return log_pb2.Topic(
            name=topic.name,
            topic_id=topic.topic_id,
            replication=topic.replication,
            retention=retention,
            partitions=[self._partition(topic, p) for p in range(topic.partitions)],
        )

    def _partition(self, topic: TopicMeta, partition: int) -> log_pb2.Partition:
        group_id = topic.group(partition)
        described = log_pb2.Partition(
            partition=partition,
            group=group_id,
            replicas=topic.replicas[partition],
            high_watermark=-1,
            log_start_offset=-1,
        )
        try:
            group = self._partitions.group(group_id)
        except UnknownGroup:
            return described
        described.leader = group.leader_id
        described.high_watermark = group.state.high_watermark
        described.log_start_offset = group.state.log_start
        return described


def _unknown_topic(name: str) -> errors.UnknownTopic:
    return errors.UnknownTopic(f"no topic {name!r}", topic=name)


def _check_offset(state: PartitionState, offset: int) -> None:
    if not state.log_start <= offset <= state.high_watermark:
        raise errors.OutOfRange(
            f"offset {offset} is outside [{state.log_start}, {state.high_watermark}] "
            "(log start offset, high watermark)",
            log_start_offset=str(state.log_start),
            high_watermark=str(state.high_watermark),
        )


def _fetched(state: PartitionState, offset: int, max_bytes: int) -> log_pb2.FetchResponse:
    records = state.read(offset, max_bytes or commands.DEFAULT_FETCH_BYTES)
    return log_pb2.FetchResponse(
        records=[
            log_pb2.FetchedRecord(
                offset=r.offset, key=r.key or b"", value=r.value or b"", timestamp_ms=r.timestamp_ms
            )
            for r in records
        ],
        high_watermark=state.high_watermark,
        log_start_offset=state.log_start,
    )


async def _records_after(state: PartitionState, offset: int, timeout_s: float | None) -> None:
    """Until the partition holds a record at `offset` (or `timeout_s` passes)."""
    appended = asyncio.Event()
    state.listeners.add(appended.set)
    try:
        if state.high_watermark > offset:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await appended.wait()
        except TimeoutError:
            pass
    finally:
        state.listeners.discard(appended.set)


def _now_ms() -> int:
    return int(time.time() * 1000)
