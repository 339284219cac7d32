"""The metadata writes a Kafka broker hands to its controller (KRaft forwards them): topics
made and deleted, producer ids given. Here the controller is the leader of `log/meta`; a
node that does not lead it calls the leader's faultlab.log.v1 over its own link to that
node (its Toxiproxy peer proxy, so a partition cuts this as it cuts Raft), once."""

from __future__ import annotations

from typing import Any

import grpc
from faultlab.log.v1 import log_pb2, log_pb2_grpc

from services.log.commands import CreateTopic, DeleteTopic, InitProducer
from services.log.results import ProducerInitialized, TopicCreated, TopicDeleted
from services.log.servicer import LogServicer
from services.log.topic import TopicMeta
from services.replicated.refusal import Refusal, can_refuse_with
from services.runtime import errors, tls
from services.runtime.grpc_options import CHANNEL_OPTIONS
from services.runtime.remote_errors import definite, reason_of


class Controller:
    def __init__(self, log: LogServicer, peers: dict[str, str]) -> None:
        self._log = log
        self._peers = peers  # node id -> this node's link to it
        self._stubs: dict[str, log_pb2_grpc.LogStub] = {}

    async def create_topic(self, cmd: CreateTopic, deadline: Any) -> TopicMeta:
        leader = self._leader()
        if leader is None:
            return (await self._log.meta_write(cmd, deadline, TopicCreated)).topic
        request = log_pb2.CreateTopicRequest(
            name=cmd.name,
            partitions=cmd.partitions,
            replication=cmd.replication,
            retention=log_pb2.Retention(
                max_records=cmd.retention[0],
                max_bytes=cmd.retention[1],
                max_age_ms=cmd.retention[2],
            ),
        )
        await self._call(leader, "CreateTopic", request, deadline)
        return await self._log.topic(cmd.name, deadline)  # here too once created there

    async def delete_topic(self, name: str, deadline: Any) -> bool:
        """False when there was no such topic."""
        leader = self._leader()
        if leader is None:
            return (await self._log.meta_write(DeleteTopic(name), deadline, TopicDeleted)).deleted
        try:
            await self._call(leader, "DeleteTopic", log_pb2.DeleteTopicRequest(name=name), deadline)
        except errors.UnknownTopic:
            return False
        return True

    async def init_producer(self, deadline: Any) -> tuple[int, int]:
        """A fresh idempotent producer's (id, epoch)."""
        leader = self._leader()
        if leader is None:
            result = await self._log.meta_write(InitProducer(""), deadline, ProducerInitialized)
            return result.producer_id, result.epoch
        got = await self._call(leader, "InitProducer", log_pb2.InitProducerRequest(), deadline)
        return got.producer_id, got.epoch

    def _leader(self) -> str | None:
        """The metadata leader to call, or None when it is this node (or none is known:
        the local proposal then answers NOT_LEADER, as it should)."""
        group = self._log.meta_group
        leader = group.leader_id
        if group.is_leader() or leader not in self._peers:
            return None
        return leader

    async def _call(self, leader: str, method: str, request: Any, deadline: Any) -> Any:
        stub = self._stubs.get(leader)
        if stub is None:
            channel = tls.aio_channel(self._peers[leader], options=CHANNEL_OPTIONS)
            stub = self._stubs[leader] = log_pb2_grpc.LogStub(channel)
        try:
            return await getattr(stub, method)(request, timeout=deadline.time_remaining())
        except grpc.aio.AioRpcError as e:
            raise _as_error(e) from None


def _as_error(e: grpc.aio.AioRpcError) -> errors.ServiceError:
    """The leader's error as this node's own, by its reason."""
    reason = reason_of(e)
    message = e.details() or ""
    if can_refuse_with(reason):
        return Refusal(reason, message).error()
    if definite(e):
        return errors.NotApplied(f"the metadata leader answered: {message}")
    return errors.OutcomeUnknown(f"the metadata leader's answer was lost: {message}")
