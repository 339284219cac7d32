"""The ceiling of a Python gRPC server on this machine: grpc.aio on uvloop, as every
faultlab node runs, answering faultlab.admin.v1.Admin/Ping and doing nothing else.

    python bench/echo_server.py --port 50051
"""

from __future__ import annotations

import argparse

import grpc
import uvloop
from faultlab.admin.v1 import admin_pb2, admin_pb2_grpc

from services.runtime.grpc_options import SERVER_OPTIONS


class Echo(admin_pb2_grpc.AdminServicer):  # type: ignore[misc]
    async def Ping(
        self, request: admin_pb2.PingRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.PingReply:
        return admin_pb2.PingReply()


async def serve(port: int) -> None:
    server = grpc.aio.server(options=SERVER_OPTIONS)
    admin_pb2_grpc.add_AdminServicer_to_server(Echo(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("serving", flush=True)
    await server.wait_for_termination()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    uvloop.run(serve(p.parse_args().port))


if __name__ == "__main__":
    main()
