"""Helpers for tests against a real KV cluster."""

from __future__ import annotations

import grpc
from faultlab.kv.v1 import kv_pb2_grpc

from cluster.launcher import LocalCluster


def direct_stub(cluster: LocalCluster, node_id: str) -> tuple[grpc.aio.Channel, kv_pb2_grpc.KVStub]:
    """A stub to one node's client link, with no leader-finding or retries."""
    channel = grpc.aio.insecure_channel(cluster.topology.client_address(node_id))
    return channel, kv_pb2_grpc.KVStub(channel)
