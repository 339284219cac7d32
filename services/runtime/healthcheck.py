"""`python -m services.runtime.healthcheck HOST:PORT`: exit 0 when the node there answers
the standard gRPC health check with SERVING, 1 otherwise. The containers' healthcheck
(docker-compose.yml), so `docker compose up --wait` returns once every node serves.

`--self` asks this container's own node: FAULTLAB_NODE's listen port in FAULTLAB_TOPOLOGY,
on 127.0.0.1. Kubernetes pods of one StatefulSet share one probe, while each node of the
topology listens on a port of its own (cluster/k8s.py)."""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime import tls
from services.runtime.topology import Topology

TIMEOUT_S = 2.0


def serving(address: str) -> bool:
    with tls.sync_channel(address) as channel:  # FAULTLAB_TLS_DIR: as the client
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def own_address() -> str:
    topology = Topology.from_file(os.environ["FAULTLAB_TOPOLOGY"])
    return f"127.0.0.1:{topology.node(os.environ['FAULTLAB_NODE']).listen_port}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m services.runtime.healthcheck HOST:PORT | --self", file=sys.stderr)
        return 2
    return 0 if serving(own_address() if argv[0] == "--self" else argv[0]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
