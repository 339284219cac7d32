"""`python -m services.runtime.healthcheck HOST:PORT`: exit 0 when the node there answers
the standard gRPC health check with SERVING, 1 otherwise. The containers' healthcheck
(docker-compose.yml), so `docker compose up --wait` returns once every node serves."""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime import tls

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


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m services.runtime.healthcheck HOST:PORT", file=sys.stderr)
        return 2
    return 0 if serving(argv[0]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
