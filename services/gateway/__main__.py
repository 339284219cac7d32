"""A gateway node: one address for the KV, lock and log services, with per-tenant
admission in front and leader-following forwarding behind.

    python -m services.gateway --topology run/topology.toml --node gateway1
    FAULTLAB_GATEWAY_CONFIG=tenants.toml  (else services/gateway/default.toml)
"""

from __future__ import annotations

import sys
import time

from faultlab.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from services.gateway.admission import Admission
from services.gateway.config import load
from services.gateway.forwarding import Backends, Forwarder
from services.gateway.handler import GatewayHandler
from services.gateway.limits_service import GatewayServicer
from services.gateway.routes import SERVICE_NAMES, build_routes
from services.runtime.server import NodeContext, ServiceHandle, main


async def setup(ctx: NodeContext) -> ServiceHandle:
    config = load()
    topology = ctx.config.topology
    by_group: dict[str, dict[str, str]] = {}
    for node_id, address in ctx.config.backends.items():
        by_group.setdefault(topology.node(node_id).group, {})[node_id] = address
    backends = Backends(by_group)
    admission = Admission(config, time.monotonic)
    handler = GatewayHandler(admission, Forwarder(backends), build_routes())
    ctx.server.add_generic_rpc_handlers((handler,))
    gateway_pb2_grpc.add_GatewayServicer_to_server(
        GatewayServicer(ctx.config.node_id, admission), ctx.server
    )
    operator = gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].full_name
    return ServiceHandle(service_names=(*SERVICE_NAMES, operator), close=backends.close)


if __name__ == "__main__":
    sys.exit(main(setup, prog="python -m services.gateway"))
