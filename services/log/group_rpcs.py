"""The consumer-group half of `faultlab.log.v1.Log`: join, heartbeat, leave, commit and
fetch offsets, list groups, against the coordinator group `log/groups`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from faultlab.log.v1 import log_pb2

from services.log import commands, results
from services.log.commands import GROUPS_COMMANDS, Commit, GroupsCommand, Join, Leave
from services.log.coordinator import Coordinator
from services.log.groups import ConsumerGroup, GroupsState
from services.log.results import Committed, Joined, Left
from services.log.topic import TopicMeta
from services.replicated import ReplicatedGroup
from services.replicated.refusal import answered
from services.runtime import errors

# "0": offset commits accepted whatever their generation (zombie-consumer's unsafe mode).
FENCE_COMMITS_ENV = "FAULTLAB_LOG_FENCE_COMMITS"
DEFAULT_SESSION_TIMEOUT_MS = 10_000
MIN_SESSION_TIMEOUT_MS, MAX_SESSION_TIMEOUT_MS = 500, 300_000
MAX_GROUP_NAME_BYTES = 200
R = TypeVar("R")


class GroupRpcs:
    """Mixed into LogServicer, which provides `topic`."""

    _coordinator: Coordinator
    _fence_commits: bool
    # The topic as this node knows it, or UNKNOWN_TOPIC: LogServicer's.
    topic: Callable[[str, grpc.aio.ServicerContext], Awaitable[TopicMeta]]

    @property
    def _groups(self) -> ReplicatedGroup[GroupsState]:
        return self._coordinator.group

    @property
    def _groups_state(self) -> GroupsState:
        return self._coordinator.state

    async def JoinGroup(
        self, request: log_pb2.JoinGroupRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.JoinGroupResponse:
        _check_group(request.group)
        if not request.topics:
            raise errors.InvalidArgument("a member subscribes to at least one topic")
        timeout_ms = request.session_timeout_ms or DEFAULT_SESSION_TIMEOUT_MS
        if not MIN_SESSION_TIMEOUT_MS <= timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            raise errors.InvalidArgument(
                f"session_timeout_ms {timeout_ms} is outside "
                f"{MIN_SESSION_TIMEOUT_MS}..{MAX_SESSION_TIMEOUT_MS}"
            )
        if request.assignor not in (log_pb2.RANGE, log_pb2.ROUND_ROBIN):
            raise errors.InvalidArgument(f"assignor {request.assignor} is not RANGE or ROUND_ROBIN")
        current = self._groups_state.groups.get(request.group)
        if current is not None and current.classic and current.members:
            raise errors.InvalidArgument(
                f"group {request.group!r} has Kafka consumers (protocol type "
                f"{current.protocol_type!r}); join it through the Kafka port or use another"
            )
        partitions = {}
        for name in request.topics:
            commands.check_topic_name(name)
            partitions[name] = (await self.topic(name, context)).partitions
        cmd = Join(
            request.group,
            request.member_id,
            request.client_id,
            tuple(sorted(set(request.topics))),
            timeout_ms,
            request.assignor,
            partitions,
        )
        result = await self._propose(cmd, context, Joined)
        self._coordinator.heard_from(request.group, result.member_id)
        member = self._groups_state.groups[request.group].members.get(result.member_id)
        return log_pb2.JoinGroupResponse(
            member_id=result.member_id,
            generation=result.generation,
            assignment=_assignment(member.assignment if member else {}),
        )

    async def Heartbeat(
        self, request: log_pb2.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.HeartbeatResponse:
        _check_group(request.group)
        self._groups.lease_read()  # liveness is the leader's to track
        group = self._member_group(request.group, request.member_id)
        self._coordinator.heard_from(request.group, request.member_id)
        return log_pb2.HeartbeatResponse(
            generation=group.generation,
            assignment=_assignment(group.members[request.member_id].assignment),
        )

    async def LeaveGroup(
        self, request: log_pb2.LeaveGroupRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.LeaveGroupResponse:
        _check_group(request.group)
        cmd = Leave(request.group, request.member_id)
        result = await self._propose(cmd, context, Left)
        if not result.left:
            raise results.unknown_member(request.group, request.member_id).error()
        return log_pb2.LeaveGroupResponse()

    async def CommitOffsets(
        self, request: log_pb2.CommitOffsetsRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.CommitOffsetsResponse:
        _check_group(request.group)
        offsets = []
        for o in request.offsets:
            commands.check_topic_name(o.topic)
            if o.partition < 0 or o.offset < 0:
                raise errors.InvalidArgument("partitions and offsets must be >= 0")
            offsets.append([o.topic, o.partition, o.offset])
        cmd = Commit(
            request.group, request.member_id, request.generation, offsets, self._fence_commits
        )
        await self._propose(cmd, context, Committed)
        self._coordinator.heard_from(request.group, request.member_id)
        return log_pb2.CommitOffsetsResponse()

    async def FetchOffsets(
        self, request: log_pb2.FetchOffsetsRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.FetchOffsetsResponse:
        _check_group(request.group)
        await self._groups.linearizable_read(context)
        group = self._groups_state.groups.get(request.group)
        return log_pb2.FetchOffsetsResponse(offsets=_offsets(group) if group else [])

    async def ListGroups(
        self, request: log_pb2.ListGroupsRequest, context: grpc.aio.ServicerContext
    ) -> log_pb2.ListGroupsResponse:
        await self._groups.linearizable_read(context)
        return log_pb2.ListGroupsResponse(
            groups=[
                log_pb2.ConsumerGroup(
                    group=name,
                    generation=g.generation,
                    offsets=_offsets(g),
                    members=[
                        log_pb2.GroupMember(
                            member_id=m, client_id=v.client_id, assignment=_assignment(v.assignment)
                        )
                        for m, v in sorted(g.members.items())
                    ],
                )
                for name, g in sorted(self._groups_state.groups.items())
            ]
        )

    def _member_group(self, name: str, member_id: str) -> ConsumerGroup:
        group = self._groups_state.groups.get(name)
        if group is None or member_id not in group.members:
            raise results.unknown_member(name, member_id).error()
        return group

    async def _propose(
        self, cmd: GroupsCommand, context: grpc.aio.ServicerContext, answer: type[R]
    ) -> R:
        applied = await self._groups.propose(GROUPS_COMMANDS.encode(cmd), context)
        return answered(applied, answer)


def _check_group(name: str) -> None:
    if not name or len(name.encode()) > MAX_GROUP_NAME_BYTES:
        raise errors.InvalidArgument(f"a group name is 1..{MAX_GROUP_NAME_BYTES} bytes")


def _assignment(assignment: dict[str, list[int]]) -> list[log_pb2.TopicPartitions]:
    return [log_pb2.TopicPartitions(topic=t, partitions=ps) for t, ps in sorted(assignment.items())]


def _offsets(group: ConsumerGroup) -> list[log_pb2.CommittedOffset]:
    return [
        log_pb2.CommittedOffset(topic=t, partition=p, offset=o)
        for (t, p), o in sorted(group.offsets.items())
    ]
