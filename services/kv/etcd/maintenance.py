"""etcdserverpb.Maintenance, Cluster and Auth on a KV node: what etcd clients ask of a
member besides its keys. Status and Alarm as etcd answers them (no alarms are raised
here); MemberList from the topology; auth is off, as on a fresh etcd. Everything else
(membership changes, defragment, snapshots, hashes, downgrades, users and roles) is not
served: UNIMPLEMENTED, as for any method a server lacks."""

from __future__ import annotations

import grpc
from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc

from services.kv.etcd import errors, members
from services.kv.etcd.door import Door


class EtcdMaintenance(rpc_pb2_grpc.MaintenanceServicer):  # type: ignore[misc]
    def __init__(self, door: Door) -> None:
        self._door = door

    async def Status(
        self, request: rpc_pb2.StatusRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.StatusResponse:
        return self._door.status()

    async def Alarm(
        self, request: rpc_pb2.AlarmRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.AlarmResponse:
        return self._door.header(rpc_pb2.AlarmResponse())  # no alarm is ever raised


class EtcdCluster(rpc_pb2_grpc.ClusterServicer):  # type: ignore[misc]
    def __init__(self, door: Door) -> None:
        self._door = door

    async def MemberList(
        self, request: rpc_pb2.MemberListRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.MemberListResponse:
        door = self._door
        group = door.topology.node(door.group.node_id).group
        listed = rpc_pb2.MemberListResponse(members=members.members(door.topology, group))
        return door.header(listed)


class EtcdAuth(rpc_pb2_grpc.AuthServicer):  # type: ignore[misc]
    def __init__(self, door: Door) -> None:
        self._door = door

    async def AuthStatus(
        self, request: rpc_pb2.AuthStatusRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.AuthStatusResponse:
        return self._door.header(rpc_pb2.AuthStatusResponse(enabled=False))

    async def Authenticate(
        self, request: rpc_pb2.AuthenticateRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.AuthenticateResponse:
        raise errors.AUTH_NOT_ENABLED
