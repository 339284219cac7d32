"""A KV node: the KV state machine and servicer on the replicated-service chassis."""

from __future__ import annotations

import sys

from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from services.kv.compaction import Compaction
from services.kv.etcd.servicers import etcd_servicers
from services.kv.servicer import KvServicer
from services.kv.state import KvState
from services.replicated import ReplicatedService, Servicer, replicated_main

GROUP = "kv"  # one Raft group, hosted by every node of the topology's kv group
COMPACTION = Compaction.from_env()  # how much history is kept (compaction.py)

SERVICE = ReplicatedService(
    name="kv",
    state_machine=lambda group: KvState(COMPACTION.revisions),
    initial_groups=lambda config: [GROUP],
    servicers=[
        Servicer(
            kv_pb2.DESCRIPTOR.services_by_name["KV"],
            kv_pb2_grpc.add_KVServicer_to_server,
            lambda replicas: KvServicer(replicas.group(GROUP, KvState)),
        ),
        *etcd_servicers(GROUP, COMPACTION),  # etcd's v3 API on the same store (docs/etcd.md)
    ],
)

if __name__ == "__main__":
    sys.exit(replicated_main(SERVICE))
