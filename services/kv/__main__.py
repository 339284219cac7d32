"""A KV node: the runtime, plus Raft (storage, transport, driver) and the KV service."""

from __future__ import annotations

import logging
import sys

from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc
from faultlab.raft.v1 import raft_pb2, raft_pb2_grpc

from services.kv import options as kv_options
from services.kv.servicer import KvServicer
from services.kv.state import KvState
from services.raft.node import RaftNode
from services.raft.storage import RaftStorage
from services.raft.transport import GrpcTransport
from services.runtime import logs
from services.runtime.admin import RoleInfo
from services.runtime.server import NodeContext, ServiceHandle, main

GROUP = "kv"
log = logging.getLogger("faultlab.kv")


async def setup(ctx: NodeContext) -> ServiceHandle:
    cfg = ctx.config
    node_options, fsync = kv_options.from_env()
    voters = tuple(n.id for n in cfg.topology.group_nodes(cfg.group))
    transport = GrpcTransport(cfg.peers)
    state = KvState()
    storage = RaftStorage(cfg.data_dir / "raft", fsync)
    node = RaftNode(
        cfg.node_id, GROUP, voters, storage, state,
        lambda msg: transport.send(GROUP, msg), node_options,
    )  # fmt: skip
    transport.register(GROUP, node.deliver)
    raft_pb2_grpc.add_RaftServicer_to_server(transport, ctx.server)
    kv_pb2_grpc.add_KVServicer_to_server(
        KvServicer(node, state, cfg.topology.client_address), ctx.server
    )
    ctx.admin.set_role_source(lambda: RoleInfo(node.role, node.term, node.leader))
    await node.start()
    transport.start()

    async def close() -> None:
        await transport.stop()
        logs.event(log, "raft_transport_stopped")
        await node.stop()

    return ServiceHandle(
        service_names=[
            kv_pb2.DESCRIPTOR.services_by_name["KV"].full_name,
            raft_pb2.DESCRIPTOR.services_by_name["Raft"].full_name,
        ],
        close=close,
    )


sys.exit(main(setup, prog="python -m services.kv"))
