"""Waiting for a node to serve: its gRPC health check answering SERVING, polled to a
deadline. What `docker compose up --wait` and the launcher wait for, for the container
backends' start and restart."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.waiting import wait_until
from services.runtime import tls


def wait_serving_at(address: str, timeout_s: float, node_id: str) -> None:
    """Poll `address`'s health service until SERVING; WaitTimeout past `timeout_s`."""
    with tls.sync_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def serving() -> bool:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
            except grpc.RpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        wait_until(serving, timeout_s, f"{node_id} to serve on {address}")
