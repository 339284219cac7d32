"""v3lockpb.Lock and v3electionpb.Election on a KV node: etcd's lock and election services,
built as etcd builds them, on KV, leases and watches (recipes.py). The caller brings the
lease (and keeps it alive); the lock or the leadership lasts as long as that lease.

Errors are etcd's: its recipes' plain errors reach a client as status UNKNOWN with their
text ("election: not leader", "election: no leader", "session expired"), and a failed
step's etcd error passes through as it came.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import grpc
from etcdapi.etcdserverpb import rpc_pb2
from etcdapi.mvccpb import kv_pb2 as mvccpb
from etcdapi.v3electionpb import v3election_pb2 as epb
from etcdapi.v3electionpb import v3election_pb2_grpc
from etcdapi.v3lockpb import v3lock_pb2 as lpb
from etcdapi.v3lockpb import v3lock_pb2_grpc
from faultlab.errors.v1 import errors_pb2

from services.kv.etcd.forward import as_etcd
from services.kv.etcd.recipes import Recipes
from services.runtime.errors import ForeignError

T = TypeVar("T")


def _plain(text: str) -> ForeignError:
    """One of the recipes' own errors, as a Go error reaches a gRPC client: UNKNOWN."""
    return ForeignError(errors_pb2.INVALID, grpc.StatusCode.UNKNOWN, text)


SESSION_EXPIRED = _plain("session expired")
NOT_LEADER = _plain("election: not leader")
NO_LEADER = _plain("election: no leader")
MISSING_LEADER_KEY = _plain('"leader" field must be provided')


async def _step(call: Awaitable[T]) -> T:
    """A step over this node's etcd API; its failure in etcd's words."""
    try:
        return await call
    except grpc.aio.AioRpcError as e:
        raise as_etcd(e) from None


class EtcdLock(v3lock_pb2_grpc.LockServicer):  # type: ignore[misc]
    def __init__(self, recipes: Recipes) -> None:
        self._recipes = recipes

    async def Lock(
        self, request: lpb.LockRequest, context: grpc.aio.ServicerContext
    ) -> lpb.LockResponse:
        recipes = self._recipes
        prefix = request.name + b"/"
        key, revision, _ = await _step(recipes.join(prefix, request.lease, b""))
        header = await _step(recipes.wait_turn(prefix, revision))
        if not await _step(recipes.exists(key)):
            raise SESSION_EXPIRED  # its lease ended while it waited
        return lpb.LockResponse(header=header, key=key)

    async def Unlock(
        self, request: lpb.UnlockRequest, context: grpc.aio.ServicerContext
    ) -> lpb.UnlockResponse:
        deleted = await _step(self._recipes.delete(request.key))
        return lpb.UnlockResponse(header=deleted.header)


class EtcdElection(v3election_pb2_grpc.ElectionServicer):  # type: ignore[misc]
    def __init__(self, recipes: Recipes) -> None:
        self._recipes = recipes

    async def Campaign(
        self, request: epb.CampaignRequest, context: grpc.aio.ServicerContext
    ) -> epb.CampaignResponse:
        recipes = self._recipes
        prefix = request.name + b"/"
        key, revision, stale_value = await _step(recipes.join(prefix, request.lease, request.value))
        leader = epb.LeaderKey(name=request.name, key=key, rev=revision, lease=request.lease)
        if stale_value:  # campaigning again with a new value: proclaim it first
            await self._proclaim(leader, request.value)
        header = await _step(recipes.wait_turn(prefix, revision))
        return epb.CampaignResponse(header=header, leader=leader)

    async def Proclaim(
        self, request: epb.ProclaimRequest, context: grpc.aio.ServicerContext
    ) -> epb.ProclaimResponse:
        if not request.HasField("leader"):
            raise MISSING_LEADER_KEY
        return epb.ProclaimResponse(header=await self._proclaim(request.leader, request.value))

    async def _proclaim(self, leader: epb.LeaderKey, value: bytes) -> rpc_pb2.ResponseHeader:
        put = rpc_pb2.PutRequest(key=leader.key, value=value, ignore_lease=True)
        answer = await _step(
            self._recipes.if_created_at(leader.key, leader.rev, rpc_pb2.RequestOp(request_put=put))
        )
        if not answer.succeeded:
            raise NOT_LEADER
        return answer.header

    async def Leader(
        self, request: epb.LeaderRequest, context: grpc.aio.ServicerContext
    ) -> epb.LeaderResponse:
        first = await _step(self._recipes.first(request.name + b"/"))
        if not first.kvs:
            raise NO_LEADER
        return epb.LeaderResponse(header=first.header, kv=first.kvs[0])

    async def Observe(
        self, request: epb.LeaderRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[epb.LeaderResponse]:
        """Each leader, then each change of its value, until the stream is closed."""
        recipes = self._recipes
        prefix = request.name + b"/"
        while True:
            first = await _step(recipes.first(prefix))
            if not first.kvs:  # nobody leads: wait for the first candidate
                async for _ in recipes.changes(prefix, first.header.revision + 1, prefix=True):
                    break
                continue
            leader = first.kvs[0]
            yield epb.LeaderResponse(header=first.header, kv=leader)
            async for event in recipes.changes(leader.key, first.header.revision + 1):
                if event.type == mvccpb.Event.DELETE:
                    break
                yield epb.LeaderResponse(header=first.header, kv=event.kv)

    async def Resign(
        self, request: epb.ResignRequest, context: grpc.aio.ServicerContext
    ) -> epb.ResignResponse:
        if not request.HasField("leader"):
            raise MISSING_LEADER_KEY
        leader = request.leader
        delete = rpc_pb2.DeleteRangeRequest(key=leader.key)
        answer = await _step(
            self._recipes.if_created_at(
                leader.key, leader.rev, rpc_pb2.RequestOp(request_delete_range=delete)
            )
        )
        return epb.ResignResponse(header=answer.header)
