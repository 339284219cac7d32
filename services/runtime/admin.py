"""The `faultlab.admin.v1.Admin` servicer every node serves."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from faultlab.admin.v1 import admin_pb2, admin_pb2_grpc

from services.runtime.probe import ConnectivityProber

VERSION = "0.1.0"


@dataclass(frozen=True)
class RoleInfo:
    role: str
    term: int = 0
    leader_id: str = ""


STANDALONE = RoleInfo("standalone")


class AdminServicer(admin_pb2_grpc.AdminServicer):  # type: ignore[misc]
    def __init__(
        self,
        node_id: str,
        group: str,
        prober: ConnectivityProber,
        role: Callable[[], RoleInfo] = lambda: STANDALONE,
    ) -> None:
        self._node_id = node_id
        self._group = group
        self._prober = prober
        self._role = role
        self._started = time.monotonic()

    def set_role_source(self, role: Callable[[], RoleInfo]) -> None:
        """Services with a role (Raft nodes) report it here once they have one."""
        self._role = role

    async def GetStatus(
        self, request: admin_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.NodeStatus:
        now = time.monotonic()
        info = self._role()
        return admin_pb2.NodeStatus(
            node_id=self._node_id,
            group=self._group,
            role=info.role,
            term=info.term,
            leader_id=info.leader_id,
            version=VERSION,
            uptime_s=now - self._started,
            pid=os.getpid(),
            peers=[p.to_proto(now) for p in self._prober.probes.values()],
        )

    async def Ping(
        self, request: admin_pb2.PingRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.PingReply:
        return admin_pb2.PingReply(node_id=self._node_id)
