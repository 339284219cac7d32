"""`ReplicatedGroup[S]`: one Raft group as a service's handlers see it, S its state
machine's type. A service reads its state, its leader and its term here and never touches
Raft itself (an import-linter contract keeps services/{kv,lock,log,gateway} off
services.raft).

Handlers propose commands and wait for reads with the caller's deadline; every failure
comes out already in the error tree (services/runtime/errors.py), so a handler never
translates Raft's own exceptions and never decides what is definite:

    raft NotLeader         -> NotLeader (with the leader's client address)   definite
    raft ProposalDropped   -> NotApplied                                     definite
    deadline, NodeStopped  -> OutcomeUnknown (writes) / NoQuorum (reads)     per reason
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import grpc

from services.raft.errors import NodeStopped, NotLeader, ProposalDropped
from services.raft.node import RaftNode
from services.raft.role import Role
from services.raft.statemachine import StateMachine
from services.runtime import errors
from services.runtime.deadlines import time_left

T = TypeVar("T")
S = TypeVar("S", bound=StateMachine)


class ReplicatedGroup(Generic[S]):
    def __init__(self, node: RaftNode, state: S, client_address: Callable[[str], str]) -> None:
        self._node = node
        self.state = state  # the replica's state machine: read it, never apply to it
        self._client_address = client_address  # node id -> where clients dial it

    @property
    def group(self) -> str:
        return self._node.group

    @property
    def node_id(self) -> str:
        return self._node.id

    @property
    def leader_id(self) -> str:
        """The leader this replica follows; "" when it knows none."""
        return self._node.leader

    @property
    def term(self) -> int:
        return self._node.term

    def is_leader(self) -> bool:
        return self._node.is_leader()

    def settled(self) -> bool:
        """Whether the state machine holds this replica's whole log, with nothing proposed
        here still on its way (so the state is where the next proposal starts)."""
        return self._node.settled()

    def is_campaigning(self) -> bool:
        """Whether this replica has given up on its leader and seeks an election: it has
        heard from no leader for an election timeout (cut off, or the leader is gone)."""
        return self._node.role in (Role.PRE_CANDIDATE, Role.CANDIDATE)

    def indexes(self) -> tuple[int, int]:
        """This replica's (commit index, applied index)."""
        info = self._node.status()
        return info.commit, info.applied

    def is_caught_up(self, peer: str) -> bool:
        """On the leader: whether `peer` holds its whole log (it could lead at once)."""
        return self._node.caught_up(peer)

    async def transfer_leadership(self, timeout_s: float, to: str) -> str | None:
        """Hand leadership to `to`; the new leader, or None if none took over in time."""
        return await self._node.transfer_leadership(timeout_s, to=to)

    async def propose(self, command: bytes, context: grpc.aio.ServicerContext) -> object:
        """The state machine's result for `command`, applied before the caller's deadline."""
        return await self.propose_within(command, time_left(context))

    async def propose_within(self, command: bytes, timeout_s: float) -> object:
        """The state machine's result for `command`, applied within `timeout_s` (for the
        service's own commands, which have no caller)."""
        return await self._settled(self._node.propose(command), timeout_s)

    async def propose_appended(self, command: bytes, context: grpc.aio.ServicerContext) -> int:
        """The entry's index once this leader alone has persisted it: the unsafe answer
        (Kafka acks=1) of a write the followers may never get."""
        return await self._settled(self._node.propose_appended(command), time_left(context))

    async def _settled(self, proposal: Awaitable[T], timeout_s: float) -> T:
        try:
            async with asyncio.timeout(timeout_s):  # no task per call, as wait_for makes
                return await proposal
        except NotLeader as e:
            raise self.not_leader(e.leader_hint) from None
        except ProposalDropped as e:
            raise errors.NotApplied(f"not applied: {e}") from None
        except NodeStopped:
            raise errors.OutcomeUnknown(
                "this node stopped before the outcome was known; the write may still be applied"
            ) from None
        except TimeoutError:
            raise errors.OutcomeUnknown(
                "no quorum answered before the deadline; the write may still be applied"
            ) from None

    async def linearizable_read(
        self, context: grpc.aio.ServicerContext, lease: bool = False
    ) -> None:
        """Returns once the local state may answer a linearizable read (ReadIndex), or,
        with `lease`, at once on a leader that holds its lease."""
        try:
            async with asyncio.timeout(time_left(context)):
                await self._node.read_index(lease=lease)
        except NotLeader as e:
            raise self.not_leader(e.leader_hint) from None
        except (TimeoutError, NodeStopped):
            raise errors.NoQuorum(
                "no quorum confirmed this leader before the deadline; nothing was read"
            ) from None

    async def caught_up(self, context: grpc.aio.ServicerContext) -> None:
        """Returns once this replica's state holds everything committed before the call,
        on a follower too (it asks the leader for a read index). For a service that
        answers from its local copy of another group (the log broker's metadata): a
        miss there is then the truth, and the caller is never sent to that group's
        leader. NoQuorum (definite) when no leader answered before the deadline."""
        try:
            async with asyncio.timeout(time_left(context)):
                await self._node.read_index(on_follower=True)
        except (NotLeader, TimeoutError, NodeStopped):
            raise errors.NoQuorum(
                f"no leader of {self.group} confirmed this node's copy before the deadline"
            ) from None

    def lease_read(self) -> None:
        """The leader answers alone, trusting CheckQuorum to depose it before another
        leader can be elected; a paused or partitioned leader breaks that trust."""
        if not self._node.is_leader():
            raise self.not_leader(self._node.leader)

    def not_leader(self, leader_id: str) -> errors.NotLeader:
        address = self._client_address(leader_id) if leader_id else ""
        return errors.NotLeader(self._node.id, leader_id, address)
