"""etcdserverpb.KV on a KV node: Range, Put, DeleteRange, Txn and Compact, answered as etcd
answers them. A Put or a DeleteRange is proposed as a txn of one op (txn.py applies it)."""

from __future__ import annotations

import grpc
from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc

from services.kv.commands import EtcdCompact, EtcdTxn
from services.kv.etcd import checks, errors
from services.kv.etcd.door import Door
from services.kv.etcd.txn import range_response
from services.runtime.errors import ServiceError

KV = "/etcdserverpb.KV/"


class EtcdKv(rpc_pb2_grpc.KVServicer):  # type: ignore[misc]
    def __init__(self, door: Door) -> None:
        self._door = door

    async def Range(
        self, request: rpc_pb2.RangeRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.RangeResponse:
        checks.check_range(request)
        door = self._door
        if request.serializable:  # this node's copy, however old
            return door.header(range_response(door.state.store, request))

        # Linearizable: ReadIndex, on any member (Raft thesis §6.4, as etcd's followers
        # serve them): the leader confirms it still leads and names its commit index; this
        # node answers once it has applied that far. No forwarding: reads spread over the
        # members instead of all landing on the leader.
        try:
            if door.group.is_leader():
                await door.group.linearizable_read(context)
            else:
                await door.leader_known()
                await door.group.caught_up(context)
        except ServiceError as e:
            raise errors.in_etcd_words(e) from None
        return door.header(range_response(door.state.store, request))

    async def Put(
        self, request: rpc_pb2.PutRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.PutResponse:
        checks.check_put(request)
        checks.check_size(request)
        one = rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp(request_put=request)])

        async def put() -> rpc_pb2.PutResponse:
            answer = await self._door.propose(EtcdTxn(one.SerializeToString()), context)
            return answer.responses[0].response_put

        return await self._door.on_leader(KV + "Put", request, rpc_pb2.PutResponse, context, put)

    async def DeleteRange(
        self, request: rpc_pb2.DeleteRangeRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.DeleteRangeResponse:
        checks.check_delete(request)
        one = rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp(request_delete_range=request)])

        async def delete() -> rpc_pb2.DeleteRangeResponse:
            answer = await self._door.propose(EtcdTxn(one.SerializeToString()), context)
            return answer.responses[0].response_delete_range

        return await self._door.on_leader(
            KV + "DeleteRange", request, rpc_pb2.DeleteRangeResponse, context, delete
        )

    async def Txn(
        self, request: rpc_pb2.TxnRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.TxnResponse:
        checks.check_txn(request)
        checks.check_size(request)

        async def txn() -> rpc_pb2.TxnResponse:
            return await self._door.propose(EtcdTxn(request.SerializeToString()), context)

        return await self._door.on_leader(KV + "Txn", request, rpc_pb2.TxnResponse, context, txn)

    async def Compact(
        self, request: rpc_pb2.CompactionRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.CompactionResponse:
        async def compact() -> rpc_pb2.CompactionResponse:
            return await self._door.propose(EtcdCompact(request.revision), context)

        return await self._door.on_leader(
            KV + "Compact", request, rpc_pb2.CompactionResponse, context, compact
        )
