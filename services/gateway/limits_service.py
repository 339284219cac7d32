"""`faultlab.gateway.v1.Gateway`: the operator's view of this replica's limits
(`faultlab gateway limits`). Reading a limit takes nothing from it: `take(0)`; a shared
limit shows the tokens this replica holds from its lease."""

from __future__ import annotations

import grpc
from faultlab.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from services.gateway.admission import Admission, Limiter
from services.gateway.config import LimitSpec
from services.gateway.shared import SharedWindow


def _rate(
    tenant: str, policy: str, spec: LimitSpec, limiter: Limiter
) -> gateway_pb2.RateLimitState:
    now = limiter.peek() if isinstance(limiter, SharedWindow) else limiter.take(0)
    return gateway_pb2.RateLimitState(
        tenant=tenant,
        policy=policy,
        algorithm=spec.algorithm,
        limit=now.limit,
        remaining=now.remaining,
        reset_s=now.reset_s,
    )


class GatewayServicer(gateway_pb2_grpc.GatewayServicer):  # type: ignore[misc]
    def __init__(self, node_id: str, admission: Admission) -> None:
        self.node_id = node_id
        self.admission = admission

    async def Limits(
        self, request: gateway_pb2.LimitsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.LimitsResponse:
        shedder = self.admission.shedder
        out = gateway_pb2.LimitsResponse(
            node=self.node_id, in_flight=shedder.in_flight, capacity=shedder.capacity
        )
        for name, limits in sorted(self.admission.tenants.items()):
            tenant = limits.tenant
            if tenant.limit is not None and limits.limit is not None:
                out.rates.append(_rate(name, "tenant", tenant.limit, limits.limit))
            for method, limiter in sorted(limits.methods.items()):
                out.rates.append(_rate(name, method, tenant.methods[method], limiter))
            if limits.concurrency is not None:
                cap, in_flight = limits.concurrency.cap, limits.concurrency.in_flight
                out.concurrency.append(
                    gateway_pb2.ConcurrencyState(tenant=name, cap=cap, in_flight=in_flight)
                )
        return out
