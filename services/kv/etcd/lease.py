"""etcdserverpb.Lease on a KV node: Grant, Revoke, KeepAlive, TimeToLive and Leases, as
etcd answers them.

Grant, revoke and keep-alive are commands through the KV group's log, carrying the
leader clock's time (services/replicated/leader_clock.py); expiry is the clock's own
command, so a lease's keys go at the same revision on every replica. TimeToLive is
answered by the leader, whose clock judges; Leases by the member asked, as etcd lists
its own lessor's. A follower forwards the rest to the leader, a keep-alive one request at
a time, so a client's keep-alive stream to any member renews its lease.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc

from services.kv import commands
from services.kv.commands import LeaseExpire, LeaseGrant, LeaseKeepAlive, LeaseLead, LeaseRevoke
from services.kv.etcd import errors
from services.kv.etcd.door import Door
from services.kv.leases import MAX_TTL_S

LEASE = "/etcdserverpb.Lease/"


class LeaseClock:
    """The KV group's commands of the leader clock."""

    def lead(self) -> bytes:
        return commands.encode(LeaseLead())

    def expire(self, due: tuple[int, ...], now_ms: int) -> bytes:
        return commands.encode(LeaseExpire(due, now_ms))


class EtcdLease(rpc_pb2_grpc.LeaseServicer):  # type: ignore[misc]
    def __init__(self, door: Door) -> None:
        self._door = door

    async def LeaseGrant(
        self, request: rpc_pb2.LeaseGrantRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.LeaseGrantResponse:
        if request.TTL > MAX_TTL_S:
            raise errors.LEASE_TTL_TOO_LARGE
        door = self._door

        async def grant() -> rpc_pb2.LeaseGrantResponse:
            cmd = LeaseGrant(request.ID, request.TTL, door.clock.now_ms())
            return await door.propose(cmd, context)

        return await door.on_leader(
            LEASE + "LeaseGrant", request, rpc_pb2.LeaseGrantResponse, context, grant
        )

    async def LeaseRevoke(
        self, request: rpc_pb2.LeaseRevokeRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.LeaseRevokeResponse:
        door = self._door

        async def revoke() -> rpc_pb2.LeaseRevokeResponse:
            return await door.propose(LeaseRevoke(request.ID), context)

        return await door.on_leader(
            LEASE + "LeaseRevoke", request, rpc_pb2.LeaseRevokeResponse, context, revoke
        )

    async def LeaseKeepAlive(
        self,
        requests: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        door = self._door
        async for request in requests:

            async def keep_alive(
                request: rpc_pb2.LeaseKeepAliveRequest = request,
            ) -> rpc_pb2.LeaseKeepAliveResponse:
                cmd = LeaseKeepAlive(request.ID, door.clock.now_ms())
                return await door.propose(cmd, context)

            yield await door.on_leader(
                LEASE + "LeaseKeepAlive",
                request,
                rpc_pb2.LeaseKeepAliveResponse,
                context,
                keep_alive,
                streaming=True,
            )

    async def LeaseTimeToLive(
        self, request: rpc_pb2.LeaseTimeToLiveRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        door = self._door

        async def time_to_live() -> rpc_pb2.LeaseTimeToLiveResponse:
            await door.group.linearizable_read(context)
            lease = door.state.leases.leases.get(request.ID)
            if lease is None:  # etcd: no error, a TTL of -1
                return rpc_pb2.LeaseTimeToLiveResponse(ID=request.ID, TTL=-1)
            return rpc_pb2.LeaseTimeToLiveResponse(
                ID=lease.id,
                TTL=lease.remaining_s(door.clock.now_ms()),
                grantedTTL=lease.ttl_s,
                keys=sorted(lease.keys) if request.keys else [],
            )

        return await door.on_leader(
            LEASE + "LeaseTimeToLive",
            request,
            rpc_pb2.LeaseTimeToLiveResponse,
            context,
            time_to_live,
        )

    async def LeaseLeases(
        self, request: rpc_pb2.LeaseLeasesRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.LeaseLeasesResponse:
        leases = sorted(self._door.state.leases.leases)
        return self._door.header(
            rpc_pb2.LeaseLeasesResponse(leases=[rpc_pb2.LeaseStatus(ID=i) for i in leases])
        )
