"""The same echo as bench/echo_server.py on grpclib (a gRPC server written in Python on
asyncio and the h2 library) instead of grpc.aio: is the ceiling grpc.aio's, or any
Python gRPC server's? Answers faultlab.admin.v1.Admin/Ping and does nothing else.

    python bench/echo_grpclib.py --port 50051
"""

from __future__ import annotations

import argparse
from typing import Any

import grpclib.const
import grpclib.server
import uvloop
from faultlab.admin.v1 import admin_pb2

PING = "/faultlab.admin.v1.Admin/Ping"


class Echo:
    async def ping(self, stream: Any) -> None:
        await stream.recv_message()
        await stream.send_message(admin_pb2.PingReply())

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        # What grpclib's code generator would write for this one method.
        return {
            PING: grpclib.const.Handler(
                self.ping,
                grpclib.const.Cardinality.UNARY_UNARY,
                admin_pb2.PingRequest,
                admin_pb2.PingReply,
            )
        }


async def serve(port: int) -> None:
    server = grpclib.server.Server([Echo()])
    await server.start("127.0.0.1", port)
    print("serving", flush=True)
    await server.wait_closed()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    uvloop.run(serve(p.parse_args().port))


if __name__ == "__main__":
    main()
