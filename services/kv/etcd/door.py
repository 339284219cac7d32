"""What every etcd servicer on a KV node shares: the KV group, the member ids, the
forwarder to the leader, the leases' leader clock, and how a request runs where etcd
would run it.

Where requests run (docs/etcd.md): writes, compactions and linearizable reads run on the
leader; a follower forwards them over its own link to the leader (forward.py), as etcd
members forward proposals, so an etcd client may use any endpoint. Serializable reads
run on the node asked, from its own copy: they may be stale, as etcd's are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from etcdapi.etcdserverpb import rpc_pb2
from google.protobuf.message import Message

from services.kv import commands
from services.kv.commands import KvCommand
from services.kv.etcd import errors, members
from services.kv.etcd.forward import Forwarder
from services.kv.state import KvState
from services.replicated import ReplicatedGroup
from services.replicated.leader_clock import LeaderClock
from services.runtime.errors import ForeignError, NotApplied, ServiceError
from services.runtime.topology import Topology

M = TypeVar("M", bound=Message)
LEADER_WAIT_S = 2.0  # about two election timeouts, as etcd's waitLeader waits one or more
LEADER_POLL_S = 0.02


class Door:
    def __init__(
        self,
        group: ReplicatedGroup[KvState],
        topology: Topology,
        forwarder: Forwarder,
        clock: LeaderClock,
    ) -> None:
        self.group = group
        self.clock = clock  # the leases' (lease.py)
        self.state = group.state
        self.topology = topology
        self.forwarder = forwarder
        self.member_id = members.member_id(group.node_id)
        self.cluster_id = members.cluster_id(topology, topology.node(group.node_id).group)

    def header(self, response: M, revision: int | None = None) -> M:
        """`response` with etcd's header: this member, the cluster, the term, and the
        store's revision unless the answer carries its own."""
        header = response.header
        header.cluster_id = self.cluster_id
        header.member_id = self.member_id
        header.raft_term = self.group.term
        if revision is not None:
            header.revision = revision
        elif not header.revision:
            header.revision = self.state.revision
        return response

    async def on_leader(
        self,
        method: str,
        request: Message,
        response_type: type[M],
        context: grpc.aio.ServicerContext,
        run: Callable[[], Awaitable[M]],
        streaming: bool = False,
    ) -> M:
        """`run()` here if this node leads; otherwise the leader's answer to `method`
        (`streaming`: a bidi method, one request of it).

        As an etcd member waits for a leader before it forwards, a follower that knows no
        leader yet, or a leader still taking office (its leases' clock not yet running),
        waits up to LEADER_WAIT_S before it answers "no leader" or "leader changed". A
        node already campaigning answers "no leader" at once."""
        taking_office_until = time.monotonic() + LEADER_WAIT_S
        while True:
            await self.leader_known()
            if not self.group.is_leader():
                break
            try:
                return self.header(await run())
            except NotApplied as e:  # still taking office: try again, up to the wait
                if time.monotonic() >= taking_office_until:
                    raise errors.in_etcd_words(e) from None
            except ServiceError as e:
                raise errors.in_etcd_words(e) from None
            await asyncio.sleep(LEADER_POLL_S)
        if self.forwarder.was_forwarded(context):
            raise errors.LEADER_CHANGED  # forwarded once already: the leader moved
        leader = self.group.leader_id
        answer: M = await self.forwarder.call(
            leader, method, request, response_type, context, streaming
        )
        return self.header(answer, answer.header.revision)

    async def leader_known(self) -> None:
        """Returns once this node leads or knows its leader; a follower that knows none
        yet waits up to LEADER_WAIT_S, as etcd's waitLeader; a node campaigning (it has
        heard from no leader for an election timeout) answers "no leader" at once."""
        waited_until = time.monotonic() + LEADER_WAIT_S
        while not (self.group.is_leader() or self.group.leader_id):
            if self.group.is_campaigning() or time.monotonic() >= waited_until:
                raise errors.NO_LEADER
            await asyncio.sleep(LEADER_POLL_S)

    async def propose(self, command: KvCommand, context: grpc.aio.ServicerContext) -> Any:
        """The state machine's answer to `command`; its etcd error raised."""
        answer = await self.group.propose(commands.encode(command), context)
        if isinstance(answer, ForeignError):
            raise answer
        return answer

    def status(self) -> rpc_pb2.StatusResponse:
        commit, applied = self.group.indexes()
        leader = self.group.leader_id
        size = sum(len(k) + len(r.value) for k, r in self.state.data.items())
        return self.header(
            rpc_pb2.StatusResponse(
                version=members.ETCD_VERSION,
                dbSize=size,
                dbSizeInUse=size,
                leader=members.member_id(leader) if leader else 0,
                raftIndex=commit,
                raftTerm=self.group.term,
                raftAppliedIndex=applied,
            )
        )
