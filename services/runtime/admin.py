"""The `faultlab.admin.v1.Admin` servicer every node serves."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from faultlab.admin.v1 import admin_pb2, admin_pb2_grpc

from services.runtime.probe import ConnectivityProber

VERSION = "0.1.0"


@dataclass(frozen=True)
class GroupInfo:
    """One Raft group as this node sees it (the runtime knows nothing of Raft itself)."""

    group: str
    role: int  # faultlab.admin.v1.RaftRole: services/raft/role.py's Role is one
    term: int
    leader: str
    commit: int
    applied: int
    voters: tuple[str, ...] = ()
    last_index: int = 0
    quiet: bool = False  # quiescent: no ticks, no heartbeats (Raft's quiescence)


GroupsSource = Callable[[], Sequence[GroupInfo]]


class AdminServicer(admin_pb2_grpc.AdminServicer):  # type: ignore[misc]
    def __init__(self, node_id: str, group: str, prober: ConnectivityProber) -> None:
        self._node_id = node_id
        self._group = group
        self._prober = prober
        self._groups: GroupsSource = list
        self._started = time.monotonic()

    def set_groups_source(self, groups: GroupsSource) -> None:
        """Replicated services report their Raft groups here once they host any."""
        self._groups = groups

    async def GetStatus(
        self, request: admin_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.NodeStatus:
        now = time.monotonic()
        return admin_pb2.NodeStatus(
            node_id=self._node_id,
            group=self._group,
            version=VERSION,
            uptime_s=now - self._started,
            pid=os.getpid(),
            wall_time_s=time.time(),
            peers=[p.to_proto(now) for p in self._prober.probes.values()],
            groups=[
                admin_pb2.RaftGroupStatus(
                    group=g.group,
                    role=g.role,
                    term=g.term,
                    leader_id=g.leader,
                    commit_index=g.commit,
                    applied_index=g.applied,
                    voters=g.voters,
                    last_index=g.last_index,
                    quiet=g.quiet,
                )
                for g in self._groups()
            ],
        )

    async def Ping(
        self, request: admin_pb2.PingRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.PingReply:
        return admin_pb2.PingReply(node_id=self._node_id)
