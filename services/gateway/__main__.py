"""A gateway node: one address for the KV, lock and log services, with per-tenant
admission in front and leader-following forwarding behind.

    python -m services.gateway --topology run/topology.toml --node gateway1
    FAULTLAB_GATEWAY_CONFIG=tenants.toml  (else services/gateway/default.toml)
"""

from __future__ import annotations

import asyncio
import sys
import time

from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
from faultlab.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from services.gateway.admission import Admission
from services.gateway.cache import TenantCaches
from services.gateway.cache.invalidation import WATCH_METHOD, follow_writes
from services.gateway.config import load
from services.gateway.envoy_rls import RateLimitServicer
from services.gateway.forwarding import Backends, Forwarder
from services.gateway.handler import GatewayHandler
from services.gateway.journal import journal_from_env
from services.gateway.kv_leases import kv_compare_and_swap
from services.gateway.limits_service import GatewayServicer
from services.gateway.routes import SERVICE_NAMES, build_routes
from services.gateway.shared import LeaseStore
from services.runtime.loop_lag import LoopLag
from services.runtime.server import NodeContext, ServiceHandle, main


async def setup(ctx: NodeContext) -> ServiceHandle:
    config = load()
    topology = ctx.config.topology
    by_group: dict[str, dict[str, str]] = {}
    for node_id, address in ctx.config.backends.items():
        by_group.setdefault(topology.node(node_id).group, {})[node_id] = address
    backends = Backends(by_group)
    forwarder = Forwarder(backends, config.calls)
    routes = build_routes()
    lag = LoopLag()
    lag_task = asyncio.create_task(lag.run())
    journal = journal_from_env(ctx.config.node_id, lag)
    admission = Admission(
        config,
        time.monotonic,
        leases=LeaseStore(kv_compare_and_swap(forwarder, routes)),
        replicas=len(topology.group_nodes(ctx.config.group)),
        sink=journal,
        wall_clock=time.time,
    )
    caches = TenantCaches({t.name: t.cache for t in config.tenants.values() if t.cache})
    watch = (
        asyncio.create_task(follow_writes(caches.stores(), forwarder, routes[WATCH_METHOD]))
        if caches
        else None
    )
    handler = GatewayHandler(admission, forwarder, routes, caches)
    ctx.server.add_generic_rpc_handlers((handler,))
    gateway_pb2_grpc.add_GatewayServicer_to_server(
        GatewayServicer(ctx.config.node_id, admission), ctx.server
    )
    rls_pb2_grpc.add_RateLimitServiceServicer_to_server(RateLimitServicer(admission), ctx.server)
    operator = gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].full_name
    envoy = rls_pb2.DESCRIPTOR.services_by_name["RateLimitService"].full_name

    async def close() -> None:
        lag_task.cancel()
        if watch is not None:
            watch.cancel()
        await caches.close()
        await backends.close()
        if journal is not None:
            journal.close()

    return ServiceHandle(service_names=(*SERVICE_NAMES, operator, envoy), close=close)


if __name__ == "__main__":
    sys.exit(main(setup, prog="python -m services.gateway"))
