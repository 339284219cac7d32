"""A test node on the replicated chassis hosting several Raft groups at once (the shape of
a log node with many partitions), each a KV state machine of its own."""

from __future__ import annotations

import sys

from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from services.kv.servicer import KvServicer
from services.kv.state import KvState
from services.replicated import ReplicatedService, Servicer, replicated_main

GROUPS = ("kv", "demo/1", "demo/2", "demo/3", "demo/4", "demo/5")

SERVICE = ReplicatedService(
    name="kv",
    state_machine=lambda group: KvState(),
    initial_groups=lambda config: GROUPS,
    servicers=[
        Servicer(
            kv_pb2.DESCRIPTOR.services_by_name["KV"],
            kv_pb2_grpc.add_KVServicer_to_server,
            lambda replicas: KvServicer(replicas.group("kv", KvState)),
        )
    ],
)

if __name__ == "__main__":
    sys.exit(replicated_main(SERVICE))
