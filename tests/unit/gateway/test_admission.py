"""The gateway's decisions before forwarding, pure: configuration checks, who may call,
the limits in Stripe's order, and the priority shedder's reserve for critical calls."""

from __future__ import annotations

import pytest

from services.gateway.admission import Admission
from services.gateway.config import DEFAULT_CONFIG, GatewayConfig, Shedding, Tenant, load, parse
from services.gateway.shedder import Priority, PriorityShedder
from services.runtime.config import ConfigError
from services.runtime.errors import (
    MethodNotAllowed,
    Overloaded,
    RateLimited,
    ServiceError,
    Unauthenticated,
)

PUT = "/faultlab.kv.v1.KV/Put"
GET = "/faultlab.kv.v1.KV/Get"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def refusal(
    admission: Admission, tenant: Tenant, method: str, priority: Priority = Priority.DEFAULT
) -> ServiceError:
    try:
        async with admission.admit(tenant, method, priority):
            pass
    except ServiceError as e:
        return e
    raise AssertionError(f"{method} was admitted")


def config(**tenant: object) -> GatewayConfig:
    spec = {"keys": ["k1"], "allow": ["faultlab.kv.v1.KV/*"], **tenant}
    return parse({"tenants": {"acme": spec}, "shedding": {"capacity": 10}})


def test_the_default_config_is_valid() -> None:
    assert "demo" in load(DEFAULT_CONFIG).tenants


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({}, "at least one"),
        ({"tenants": {"a": {"keys": []}}}, "at least one API key"),
        ({"tenants": {"a": {"keys": ["k"], "limt": 1}}}, "unknown key"),
        ({"tenants": {"a": {"keys": ["k"], "limit": {"algorithm": "magic"}}}}, "algorithm"),
        (
            {
                "tenants": {
                    "a": {"keys": ["k"], "limit": {"algorithm": "token_bucket", "rate_per_s": 5}}
                }
            },
            "needs burst",
        ),
        (
            {
                "tenants": {
                    "a": {
                        "keys": ["k"],
                        "limit": {"algorithm": "fixed_window", "limit": 0, "window_s": 1},
                    }
                }
            },
            "limit >= 1",
        ),
        ({"tenants": {"a": {"keys": ["k"]}, "b": {"keys": ["k"]}}}, "belongs to a and b"),
        ({"tenants": {"a": {"keys": ["k"], "concurrency": 0}}}, "concurrency"),
        ({"tenants": {"a": {"keys": ["k"]}}, "shedding": {"critical_reserve": 1.5}}, "reserve"),
    ],
)
def test_a_bad_config_names_what_is_wrong(data: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse(data)


def test_only_a_known_bearer_key_authenticates() -> None:
    admission = Admission(config(), FakeClock())
    assert admission.authenticate("Bearer k1").name == "acme"
    assert admission.authenticate("bearer k1").name == "acme"
    for bad in (None, "", "k1", "Basic k1", "Bearer nope"):
        with pytest.raises(Unauthenticated):
            admission.authenticate(bad)


async def test_a_method_outside_the_allow_list_is_denied() -> None:
    admission = Admission(config(allow=["faultlab.kv.v1.KV/Get"]), FakeClock())
    tenant = admission.authenticate("Bearer k1")
    async with admission.admit(tenant, GET, Priority.DEFAULT):
        pass
    assert isinstance(await refusal(admission, tenant, PUT), MethodNotAllowed)


async def test_the_tenant_limit_refuses_with_the_ratelimit_fields_until_its_window_ends() -> None:
    clock = FakeClock()
    limit = {"algorithm": "fixed_window", "limit": 2, "window_s": 10.0}
    admission = Admission(config(limit=limit), clock)
    tenant = admission.authenticate("Bearer k1")
    for remaining in (1, 0):
        async with admission.admit(tenant, PUT, Priority.DEFAULT) as ticket:
            assert ticket.decision is not None and ticket.decision.remaining == remaining
    clock.now = 4.0
    refused = await refusal(admission, tenant, PUT)
    assert isinstance(refused, RateLimited)
    assert refused.retry_after_s == pytest.approx(6.0)
    assert refused.details["ratelimit_limit"] == "2"
    assert refused.details["policy"] == "tenant"
    clock.now = 10.0
    async with admission.admit(tenant, PUT, Priority.DEFAULT):
        pass


async def test_a_method_limit_applies_to_that_method_only() -> None:
    methods = {"faultlab.kv.v1.KV/Put": {"algorithm": "token_bucket", "rate_per_s": 1, "burst": 1}}
    admission = Admission(config(methods=methods), FakeClock())
    tenant = admission.authenticate("Bearer k1")
    async with admission.admit(tenant, PUT, Priority.DEFAULT):
        pass
    refused = await refusal(admission, tenant, PUT)
    assert isinstance(refused, RateLimited)
    assert refused.details["policy"] == "faultlab.kv.v1.KV/Put"
    async with admission.admit(tenant, GET, Priority.DEFAULT):
        pass


async def test_the_concurrency_cap_counts_calls_in_flight_and_frees_them_on_failure() -> None:
    admission = Admission(config(concurrency=2), FakeClock())
    tenant = admission.authenticate("Bearer k1")
    async with (
        admission.admit(tenant, GET, Priority.DEFAULT),
        admission.admit(tenant, GET, Priority.DEFAULT),
    ):
        refused = await refusal(admission, tenant, GET)
        assert isinstance(refused, RateLimited) and refused.details["policy"] == "concurrency"
    with pytest.raises(RuntimeError):
        async with admission.admit(tenant, GET, Priority.DEFAULT):
            raise RuntimeError("the forwarded call failed")
    assert admission.tenants["acme"].concurrency.in_flight == 0  # type: ignore[union-attr]
    assert admission.shedder.in_flight == 0


def test_the_shedder_sheds_best_effort_first_and_keeps_a_reserve_for_critical() -> None:
    shedder = PriorityShedder(Shedding(capacity=10, critical_reserve=0.2, best_effort_share=0.5))
    admitted = {p: 0 for p in Priority}
    for priority in (
        [Priority.BEST_EFFORT] * 10 + [Priority.DEFAULT] * 10 + [Priority.CRITICAL] * 10
    ):
        if shedder.try_enter(priority):
            admitted[priority] += 1
    assert admitted == {Priority.BEST_EFFORT: 5, Priority.DEFAULT: 3, Priority.CRITICAL: 2}
    assert not shedder.try_enter(Priority.CRITICAL), "never past capacity"
    shedder.leave()
    assert not shedder.try_enter(Priority.DEFAULT), "the last 2 slots are critical's"
    assert shedder.try_enter(Priority.CRITICAL)


async def test_shedding_at_capacity_is_overloaded() -> None:
    shedding = {"capacity": 1, "critical_reserve": 0.0, "best_effort_share": 1.0}
    data = {"tenants": {"acme": {"keys": ["k1"], "allow": ["*"]}}, "shedding": shedding}
    admission = Admission(parse(data), FakeClock())
    tenant = admission.authenticate("Bearer k1")
    async with admission.admit(tenant, GET, Priority.CRITICAL):
        refused = await refusal(admission, tenant, GET, Priority.CRITICAL)
        assert isinstance(refused, Overloaded)
