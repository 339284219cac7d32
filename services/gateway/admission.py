"""Who may call, and whether now: the gateway's decisions before anything is forwarded.

In the order Stripe runs its limiters: the API key names a tenant (UNAUTHENTICATED
otherwise); the tenant may call the method (PERMISSION_DENIED); its rate limits, the
tenant-wide one and the method's own (RESOURCE_EXHAUSTED, RATE_LIMITED, with retry-after
and the RateLimit fields); its cap on calls in flight (RATE_LIMITED, policy concurrency);
then the priority shedder, which protects the gateway itself (RESOURCE_EXHAUSTED,
OVERLOADED). A limit marked `shared` is one fixed window over every replica, leased from
the KV store (`shared.py`); its decisions are the only ones that wait, and never longer
than the configured bound.

    admission = Admission(config, time.monotonic, leases=store, replicas=2, sink=journal)
    tenant = admission.authenticate(metadata.get("authorization"))
    async with admission.admit(tenant, "/faultlab.kv.v1.KV/Put", Priority.DEFAULT) as ticket:
        ...  # forward; ticket.decision holds the RateLimit fields for the answer

`sink` receives one record per decided call, when the call ends: what the limiter checker
(chaos/checkers/limiter.py) reads.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.gateway.call_record import CallRecord
from services.gateway.config import GatewayConfig, LimitSpec, RateLimiter, Tenant
from services.gateway.limits import Clock, ConcurrencyLimiter, Decision
from services.gateway.shared import LeaseStore, SharedWindow
from services.gateway.shedder import Priority, PriorityShedder
from services.runtime.errors import (
    MethodNotAllowed,
    Overloaded,
    RateLimited,
    ServiceError,
    Unauthenticated,
)

BEARER = "bearer "
LEASE_KEY = "faultlab/gateway/limits/{tenant}/{policy}"
Sink = Callable[[CallRecord], None]
Limiter = RateLimiter | SharedWindow


@dataclass(frozen=True)
class Ticket:
    tenant: str
    decision: Decision | None  # the tenant-wide limit's answer: the RateLimit fields
    record: CallRecord  # this call's journal record: forwarding adds what it cost


class TenantLimits:
    """One tenant's limiters, built once from its configuration."""

    def __init__(self, tenant: Tenant, build: Callable[[str, LimitSpec], Limiter]) -> None:
        self.tenant = tenant
        self.limit = build("tenant", tenant.limit) if tenant.limit else None
        self.methods = {m: build(m, spec) for m, spec in tenant.methods.items()}
        self.concurrency = ConcurrencyLimiter(tenant.concurrency) if tenant.concurrency else None


class Admission:
    def __init__(
        self,
        config: GatewayConfig,
        clock: Clock,
        *,
        leases: LeaseStore | None = None,
        replicas: int = 1,
        sink: Sink | None = None,
        wall_clock: Clock | None = None,
    ) -> None:
        """`clock` times the local limiters and decisions (monotonic); `wall_clock` the
        windows of shared limits and the records' times, which every replica must agree
        on (default: `clock`)."""
        self.config = config
        self._clock = clock
        self._wall_clock = wall_clock or clock
        self._leases = leases
        self._replicas = config.sharing.replicas or replicas
        self._sink = sink
        self._by_key = config.tenant_for_key()
        self.tenants = {
            name: TenantLimits(t, functools.partial(self._build, name))
            for name, t in config.tenants.items()
        }
        self.shedder = PriorityShedder(config.shedding)

    def _build(self, tenant: str, policy: str, spec: LimitSpec) -> Limiter:
        if not spec.shared:
            return spec.build(self._clock)
        if self._leases is None:
            raise ValueError(f"{tenant}: a shared limit needs a lease store")
        limit, window_s = (value for _, value in spec.params)
        key = LEASE_KEY.format(tenant=tenant, policy=policy)
        sharing = self.config.sharing
        if spec.on_store_failure is not None:
            sharing = dataclasses.replace(sharing, on_store_failure=spec.on_store_failure)
        return SharedWindow(
            key, int(limit), window_s, sharing, self._replicas, self._leases, self._wall_clock
        )

    def authenticate(self, authorization: str | None) -> Tenant:
        if not authorization:
            raise Unauthenticated("no API key: send `authorization: Bearer KEY`")
        if not authorization.lower().startswith(BEARER):
            raise Unauthenticated("the authorization metadata must be `Bearer KEY`")
        tenant = self._by_key.get(authorization[len(BEARER) :].strip())
        if tenant is None:
            raise Unauthenticated("unknown API key")
        return tenant

    async def decide(self, tenant: str, policy: str, hits: int) -> Decision | None:
        """Take `hits` from one of a tenant's rate limits ("tenant", or a method's), and say
        what it answered; None when it has no such limit. The same limiters the native path
        uses: Envoy's rate limit API (`envoy_rls.py`) asks through here."""
        limits = self.tenants.get(tenant)
        if limits is None:
            return None
        limiter = limits.limit if policy == "tenant" else limits.methods.get(policy)
        if limiter is None:
            return None
        record = CallRecord(self._wall_clock(), tenant, f"rls:{policy}")
        try:
            if isinstance(limiter, SharedWindow):
                decision = await limiter.take()
                for _ in range(hits - 1):
                    if not decision.allowed:
                        break
                    decision = await limiter.take()
                record.t = limiter.decided_at
            else:
                decision = limiter.take(hits)
        finally:
            record.end = self._wall_clock()
        record.admitted = decision.allowed
        if not decision.allowed:
            record.refused_by = policy
        record.degraded = decision.degraded
        if self._sink is not None:
            self._sink(record)
        return decision

    @asynccontextmanager
    async def admit(self, tenant: Tenant, method: str, priority: Priority) -> AsyncIterator[Ticket]:
        name = method.lstrip("/")
        if not tenant.allows(name):
            raise MethodNotAllowed(
                f"tenant {tenant.name} may not call {name}", tenant=tenant.name, method=name
            )
        record = CallRecord(self._wall_clock(), tenant.name, name)
        try:
            async with self._admitted(tenant, name, priority, record) as ticket:
                yield ticket
                record.end = self._wall_clock()
        except ServiceError as e:
            if record.refused_by is None:
                record.refused_by = e.details.get("policy", "shedder")
            raise
        finally:
            if record.end is None:
                record.end = self._wall_clock()
            if self._sink is not None:
                self._sink(record)

    @asynccontextmanager
    async def _admitted(
        self, tenant: Tenant, name: str, priority: Priority, record: CallRecord
    ) -> AsyncIterator[Ticket]:
        limits = self.tenants[tenant.name]
        started = self._clock()
        decision = await _take(limits.limit, tenant.name, "tenant", record)
        await _take(limits.methods.get(name), tenant.name, name, record)
        record.decision_ms = round((self._clock() - started) * 1000, 3)
        if limits.concurrency is not None and not limits.concurrency.try_acquire():
            raise RateLimited(
                f"tenant {tenant.name} has {limits.concurrency.cap} calls in flight already",
                retry_after_s=0.0,
                tenant=tenant.name,
                policy="concurrency",
                ratelimit_limit=str(limits.concurrency.cap),
                ratelimit_remaining="0",
            )
        try:
            if not self.shedder.try_enter(priority):
                raise Overloaded(
                    f"gateway at capacity for {priority.value} calls",
                    priority=priority.value,
                    policy="shedder",
                )
            try:
                record.admitted = True
                yield Ticket(tenant.name, decision, record)
            finally:
                self.shedder.leave()
        finally:
            if limits.concurrency is not None:
                limits.concurrency.release()


async def _take(
    limiter: Limiter | None, tenant: str, policy: str, record: CallRecord
) -> Decision | None:
    if limiter is None:
        return None
    if isinstance(limiter, SharedWindow):
        decision = await limiter.take()
        record.t = limiter.decided_at  # the instant its window counts it in
    else:
        decision = limiter.take()
    if decision.degraded:
        record.degraded = True
    if not decision.allowed:
        raise RateLimited(
            f"tenant {tenant} is over its {policy} limit of {decision.limit}",
            retry_after_s=decision.retry_after_s,
            tenant=tenant,
            policy=policy,
            **ratelimit_fields(decision),
            **({"store": "unreachable"} if decision.degraded else {}),
        )
    return decision


def ratelimit_fields(decision: Decision) -> dict[str, str]:
    """The RateLimit header fields' meanings, as metadata values."""
    return {
        "ratelimit_limit": str(decision.limit),
        "ratelimit_remaining": str(decision.remaining),
        "ratelimit_reset": f"{decision.reset_s:.3f}",
    }
