"""Who may call, and whether now: the gateway's decisions before anything is forwarded.

In the order Stripe runs its limiters: the API key names a tenant (UNAUTHENTICATED
otherwise); the tenant may call the method (PERMISSION_DENIED); its rate limits, the
tenant-wide one and the method's own (RESOURCE_EXHAUSTED, RATE_LIMITED, with retry-after
and the RateLimit fields); its cap on calls in flight (RATE_LIMITED, policy concurrency);
then the priority shedder, which protects the gateway itself (RESOURCE_EXHAUSTED,
OVERLOADED). Pure: a clock is injected, and the caller releases each admitted call.

    admission = Admission(config, time.monotonic)
    tenant = admission.authenticate(metadata.get("authorization"))
    with admission.admit(tenant, "/faultlab.kv.v1.KV/Put", Priority.DEFAULT) as ticket:
        ...  # forward; ticket.decision holds the RateLimit fields for the answer
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from services.gateway.config import GatewayConfig, RateLimiter, Tenant
from services.gateway.limits import Clock, ConcurrencyLimiter, Decision
from services.gateway.shedder import Priority, PriorityShedder
from services.runtime.errors import MethodNotAllowed, Overloaded, RateLimited, Unauthenticated

BEARER = "bearer "


@dataclass(frozen=True)
class Ticket:
    tenant: str
    decision: Decision | None  # the tenant-wide limit's answer: the RateLimit fields


class TenantLimits:
    """One tenant's limiters, built once from its configuration."""

    def __init__(self, tenant: Tenant, clock: Clock) -> None:
        self.tenant = tenant
        self.limit = tenant.limit.build(clock) if tenant.limit else None
        self.methods = {m: spec.build(clock) for m, spec in tenant.methods.items()}
        self.concurrency = ConcurrencyLimiter(tenant.concurrency) if tenant.concurrency else None


class Admission:
    def __init__(self, config: GatewayConfig, clock: Clock) -> None:
        self.config = config
        self._by_key = config.tenant_for_key()
        self.tenants = {name: TenantLimits(t, clock) for name, t in config.tenants.items()}
        self.shedder = PriorityShedder(config.shedding)

    def authenticate(self, authorization: str | None) -> Tenant:
        if not authorization:
            raise Unauthenticated("no API key: send `authorization: Bearer KEY`")
        if not authorization.lower().startswith(BEARER):
            raise Unauthenticated("the authorization metadata must be `Bearer KEY`")
        tenant = self._by_key.get(authorization[len(BEARER) :].strip())
        if tenant is None:
            raise Unauthenticated("unknown API key")
        return tenant

    @contextmanager
    def admit(self, tenant: Tenant, method: str, priority: Priority) -> Iterator[Ticket]:
        name = method.lstrip("/")
        if not tenant.allows(name):
            raise MethodNotAllowed(f"tenant {tenant.name} may not call {name}",
                                   tenant=tenant.name, method=name)  # fmt: skip
        limits = self.tenants[tenant.name]
        decision = _take(limits.limit, tenant.name, "tenant")
        _take(limits.methods.get(name), tenant.name, name)
        if limits.concurrency is not None and not limits.concurrency.try_acquire():
            raise RateLimited(
                f"tenant {tenant.name} has {limits.concurrency.cap} calls in flight already",
                retry_after_s=0.0, tenant=tenant.name, policy="concurrency",
                ratelimit_limit=str(limits.concurrency.cap), ratelimit_remaining="0",
            )  # fmt: skip
        try:
            if not self.shedder.try_enter(priority):
                raise Overloaded(f"gateway at capacity for {priority.value} calls",
                                 priority=priority.value)  # fmt: skip
            try:
                yield Ticket(tenant.name, decision)
            finally:
                self.shedder.leave()
        finally:
            if limits.concurrency is not None:
                limits.concurrency.release()


def _take(limiter: RateLimiter | None, tenant: str, policy: str) -> Decision | None:
    if limiter is None:
        return None
    decision = limiter.take()
    if not decision.allowed:
        raise RateLimited(
            f"tenant {tenant} is over its {policy} limit of {decision.limit}",
            retry_after_s=decision.retry_after_s, tenant=tenant, policy=policy,
            **ratelimit_fields(decision),
        )  # fmt: skip
    return decision


def ratelimit_fields(decision: Decision) -> dict[str, str]:
    """The RateLimit header fields' meanings, as metadata values."""
    return {"ratelimit_limit": str(decision.limit),
            "ratelimit_remaining": str(decision.remaining),
            "ratelimit_reset": f"{decision.reset_s:.3f}"}  # fmt: skip
