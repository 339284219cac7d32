"""Who the etcd API says the cluster is: a member per KV node, with etcd-shaped ids, and
the header every etcd response carries."""

from __future__ import annotations

import hashlib

from etcdapi.etcdserverpb import rpc_pb2

from services.runtime.topology import Topology

# The version the Status RPC reports: a release whose API every client here speaks.
ETCD_VERSION = "3.5.0"


def member_id(node_id: str) -> int:
    """A stable etcd member id for a node (etcd's are uint64, printed in hex); kept below
    2**63 so clients that read it as int64 see it positive."""
    digest = hashlib.sha256(f"faultlab-member/{node_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def cluster_id(topology: Topology, group: str) -> int:
    nodes = ",".join(n.id for n in topology.group_nodes(group))
    digest = hashlib.sha256(f"faultlab-cluster/{nodes}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def members(topology: Topology, group: str) -> list[rpc_pb2.Member]:
    """Each KV node as etcd's MemberList shows it: its client URL is its client link (the
    Toxiproxy proxy clients dial), its peer URL the address it listens on."""
    return [
        rpc_pb2.Member(
            ID=member_id(node.id),
            name=node.id,
            peerURLs=[f"http://{topology.listen_address(node.id)}"],
            clientURLs=[f"http://{topology.client_address(node.id)}"],
        )
        for node in topology.group_nodes(group)
    ]
