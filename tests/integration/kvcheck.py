"""Helpers for tests against a real KV cluster."""

from __future__ import annotations

import grpc
from faultlab.kv.v1 import kv_pb2_grpc

from cluster import admin_client
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until

ELECTION_BOUND_S = 15.0


def wait_for_leader(cluster: LocalCluster, among: list[str] | None = None, not_: str = "") -> str:
    """Wait for a leader that a majority follows (among `among`, default: running nodes)."""

    def found() -> str | None:
        ids = among or [n.id for n in cluster.topology.nodes if cluster.is_running(n.id)]
        lead = admin_client.leader_of(cluster.topology, ids)
        return lead if lead and lead != not_ else None

    return wait_until(found, ELECTION_BOUND_S, "a leader a majority follows", interval_s=0.1)


def direct_stub(cluster: LocalCluster, node_id: str) -> tuple[grpc.aio.Channel, kv_pb2_grpc.KVStub]:
    """A stub to one node's client link, with no leader-finding or retries."""
    channel = grpc.aio.insecure_channel(cluster.topology.client_address(node_id))
    return channel, kv_pb2_grpc.KVStub(channel)
