"""The limiter checker on hand-made journals: each bound it holds, and each way to break it."""

from __future__ import annotations

from typing import Any

from chaos.checkers.limiter import LimitUnderTest, check
from services.gateway.call_record import CallRecord

WINDOW = LimitUnderTest(
    "t", "fixed_window", limit=4, window_s=1.0, replicas=2, shared=True, lease_batch=1
)


def rec(t: float, admitted: bool, replica: str = "g1", **kw: Any) -> CallRecord:
    refused_by = None if admitted else "tenant"
    fields = {"end": t + 0.01, "replica": replica, "admitted": admitted, "refused_by": refused_by}
    return CallRecord(t, "t", "faultlab.kv.v1.KV/Get", **(fields | kw))


def test_a_window_within_its_limit_over_all_replicas_is_valid() -> None:
    records = [
        rec(0.1, True, "g1"),
        rec(0.2, True, "g2"),
        rec(0.3, True, "g1"),
        rec(0.4, True, "g2"),
        rec(0.5, False, "g1"),
        rec(1.1, True, "g2"),
    ]
    verdict = check(records, WINDOW)
    assert verdict.valid, verdict
    assert verdict.worst_window == 4 and verdict.admitted == 5


def test_replicas_each_admitting_the_whole_limit_is_over_admission() -> None:
    records = [rec(0.1 + i / 100, True, g) for g in ("g1", "g2") for i in range(4)]
    verdict = check(records, WINDOW)
    assert not verdict.valid and verdict.worst_ratio == 2.0


def test_a_refusal_while_budget_remained_is_false() -> None:
    records = [rec(0.1, True), rec(0.2, False)]  # 1 of 4 used; 1 lease may be stranded
    assert check(records, WINDOW).false_refusals == 1
    records = [rec(0.1, True), rec(0.2, True), rec(0.3, True), rec(0.4, False)]
    assert check(records, WINDOW).false_refusals == 0, "3 = 4 - stranded lease of 1"


def test_without_the_store_the_declared_policy_is_the_bound() -> None:
    degraded = [rec(0.1 + i / 100, True, g, degraded=True) for g in ("g1", "g2") for i in range(2)]
    assert check(degraded, WINDOW).valid, "local_share: 2 per replica"
    greedy = [rec(0.1 + i / 100, True, g, degraded=True) for g in ("g1", "g2") for i in range(4)]
    assert not check(greedy, WINDOW).valid
    local_full = LimitUnderTest(**{**WINDOW.__dict__, "on_store_failure": "local_full"})
    assert check(greedy, local_full).valid, "the unsafe policy, declared: N x limit"
    closed = LimitUnderTest(**{**WINDOW.__dict__, "on_store_failure": "fail_closed"})
    assert not check(degraded, closed).valid


def test_a_slow_decision_without_the_store_breaks_the_time_bound() -> None:
    records = [rec(0.1, True, degraded=True, decision_ms=80.0)]
    assert check(records, WINDOW).valid
    records = [rec(0.1, True, degraded=True, decision_ms=400.0)]
    assert check(records, WINDOW).slow_decisions == [400.0]


def test_the_time_bound_allows_for_the_event_loop_lag_the_gateway_saw() -> None:
    """A process that waited 300 ms for a core made a 400 ms decision that its code made
    in time; one that waited 100 ms did not have that excuse."""
    waited = [rec(0.1, True, degraded=True, decision_ms=400.0, loop_lag_ms=300.0)]
    assert check(waited, WINDOW).valid
    slow = [rec(0.1, True, degraded=True, decision_ms=400.0, loop_lag_ms=100.0)]
    assert check(slow, WINDOW).slow_decisions == [400.0]


def test_token_bucket_bounds_and_exactness_per_replica() -> None:
    bucket = LimitUnderTest("t", "token_bucket", rate_per_s=10.0, burst=3)
    burst = [rec(0.0, True), rec(0.01, True), rec(0.02, True)]
    assert check([*burst, rec(0.03, False)], bucket).valid
    assert not check([*burst, rec(0.03, True)], bucket).valid, "4 within 30 ms"
    assert check([*burst, rec(0.03, True, "g2")], bucket).valid, "another replica's bucket"
    assert check([*burst, rec(0.5, False)], bucket).false_refusals == 1, "refilled by then"


def test_in_flight_above_the_cap_is_caught() -> None:
    limit = LimitUnderTest("t", "fixed_window", limit=100, concurrency=2)
    calls = [rec(0.0, True, end=1.0), rec(0.1, True, end=1.0)]
    assert check(calls, limit).valid
    assert not check([*calls, rec(0.2, True, end=0.3)], limit).valid
    assert check([*calls, rec(1.0, True, end=1.5)], limit).valid, "one ended as it began"
