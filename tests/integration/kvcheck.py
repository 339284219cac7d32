"""Helpers for tests against a real KV cluster."""

from __future__ import annotations

import grpc
from faultlab.kv.v1 import kv_pb2_grpc

from cluster import admin_client
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until


def direct_stub(cluster: LocalCluster, node_id: str) -> tuple[grpc.aio.Channel, kv_pb2_grpc.KVStub]:
    """A stub to one node's client link, with no leader-finding or retries."""
    channel = grpc.aio.insecure_channel(cluster.topology.client_address(node_id))
    return channel, kv_pb2_grpc.KVStub(channel)


def follower_knowing(cluster: LocalCluster, leader: str, timeout_s: float = 15.0) -> str:
    """A follower that has heard from `leader`. wait_for_leader needs only a majority to
    follow it, so the third node may not know the leader yet and would rightly answer
    NOT_LEADER with no hint; a test of the hint asks a node that has one."""

    def knowing() -> str | None:
        for node in cluster.topology.nodes:
            if node.id == leader:
                continue
            status = admin_client.fetch_status(cluster.topology.listen_address(node.id))
            view = admin_client.group_view(status, "kv")
            if view is not None and view.leader_id == leader:
                return node.id
        return None

    return wait_until(knowing, timeout_s, f"a follower that knows {leader} leads")
