"""Limiter conformance over the gateways' decision journals (services/gateway/journal.py):
every replica's records of one tenant, checked against the limit's stated bound.

    records: CallRecords (services/gateway/call_record.py), all replicas together

- over-admission, fixed window: admitted per window (by decision time) over all replicas
  <= the bound of that window: `limit` while the shared store answered; while it did not,
  what the declared policy allows (local_share: replicas x limit // replicas; local_full:
  replicas x limit, the unsafe fallback; fail_open: no bound; fail_closed: nothing
  admitted without the store); in a window in which the store was lost or came back,
  local_share allows limit + (replicas - 1) x share (one replica may have used the whole
  limit, each other one its share), the other policies the sum of both bounds.
- over-admission, token bucket: admitted in any interval of length L <= burst + rate x L
  (checked in one pass: the worst interval ending at each admission).
- false refusals: refused by the rate limit while the window's admitted count was below
  what stranded leases explain (limit - (replicas - 1) x lease_batch; limit when the
  limit is not shared).
- concurrency: admitted calls in flight at once, per replica, <= the cap.
- decision time: a decision made without the store took <= store_timeout + slack + the
  gateway's event-loop lag around it (its record's loop_lag_ms): the bound is on what the
  code waits for, not on how long the machine made the process wait for a core.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from services.gateway.call_record import CallRecord

Record = CallRecord
DECISION_SLACK_MS = 50.0  # event-loop scheduling on a loaded two-core machine
TOKEN_SLACK = 0.05  # a record's time is taken just before its limiter's own clock reading


@dataclass(frozen=True)
class LimitUnderTest:
    tenant: str
    algorithm: str  # fixed_window or token_bucket
    limit: int = 0  # fixed window
    window_s: float = 1.0
    rate_per_s: float = 0.0  # token bucket
    burst: int = 0
    replicas: int = 1
    shared: bool = False
    lease_batch: int = 0
    on_store_failure: str = "local_share"
    store_timeout_ms: float = 100.0
    concurrency: int | None = None


@dataclass
class LimiterVerdict:
    admitted: int = 0
    refused: int = 0
    degraded: int = 0
    worst_window: int = 0  # the most admitted in one window (fixed window)
    worst_ratio: float = 0.0  # worst window's admitted / limit
    over_admissions: list[str] = field(default_factory=list)
    false_refusals: int = 0
    max_in_flight: int = 0
    slow_decisions: list[float] = field(default_factory=list)
    max_decision_ms: float = 0.0

    @property
    def valid(self) -> bool:
        return not (self.over_admissions or self.false_refusals or self.slow_decisions)

    def figures(self) -> dict[str, float]:
        return {
            "admitted": self.admitted,
            "refused": self.refused,
            "degraded": self.degraded,
            "worst_window": self.worst_window,
            "worst_ratio": round(self.worst_ratio, 2),
            "over_admissions": len(self.over_admissions),
            "false_refusals": self.false_refusals,
            "max_in_flight": self.max_in_flight,
            "max_decision_ms": round(self.max_decision_ms, 1),
        }


def check(records: list[Record], limit: LimitUnderTest) -> LimiterVerdict:
    mine = sorted((r for r in records if r.tenant == limit.tenant), key=lambda r: r.t)
    verdict = LimiterVerdict(
        admitted=sum(1 for r in mine if r.admitted),
        refused=sum(1 for r in mine if not r.admitted),
        degraded=sum(1 for r in mine if r.degraded),
    )
    if limit.algorithm == "fixed_window":
        _fixed_windows(mine, limit, verdict)
    elif limit.algorithm == "token_bucket":
        _token_bucket(mine, limit, verdict)
    else:
        raise ValueError(f"no checker for {limit.algorithm}")
    if limit.concurrency is not None:
        _in_flight(mine, limit.concurrency, verdict)
    _decision_times(mine, limit, verdict)
    return verdict


def _degraded_bound(limit: LimitUnderTest) -> float:
    policy = limit.on_store_failure
    if policy == "fail_open":
        return math.inf
    if policy == "fail_closed":
        return 0
    if policy == "local_full":
        return limit.replicas * limit.limit
    return limit.replicas * max(1, limit.limit // limit.replicas)  # local_share


def _bound(limit: LimitUnderTest, degraded: set[bool]) -> float:
    """A window's bound: healthy, wholly without the store, or the store lost or regained
    in it (then local_share allows one replica's full use plus every other one's share)."""
    if degraded == {False}:
        return limit.limit
    if degraded == {True}:
        return _degraded_bound(limit)
    if limit.on_store_failure == "local_share":
        return limit.limit + (limit.replicas - 1) * max(1, limit.limit // limit.replicas)
    return limit.limit + _degraded_bound(limit)


def _fixed_windows(mine: list[Record], limit: LimitUnderTest, verdict: LimiterVerdict) -> None:
    windows: dict[int, list[Record]] = defaultdict(list)
    for r in mine:
        windows[math.floor(r.t / limit.window_s)].append(r)
    stranded = (limit.replicas - 1) * limit.lease_batch if limit.shared else 0
    for window, rs in sorted(windows.items()):
        kinds = {bool(r.degraded) for r in rs}
        bound = _bound(limit, kinds)
        admitted = 0
        for r in rs:
            if r.admitted:
                admitted += 1
            elif r.refused_by == "tenant" and not r.degraded and admitted < limit.limit - stranded:
                verdict.false_refusals += 1
        verdict.worst_window = max(verdict.worst_window, admitted)
        verdict.worst_ratio = max(verdict.worst_ratio, admitted / limit.limit)
        if admitted > bound:
            verdict.over_admissions.append(f"window {window}: {admitted} admitted > {bound}")


def _token_bucket(mine: list[Record], limit: LimitUnderTest, verdict: LimiterVerdict) -> None:
    """A token bucket is per replica. Over-admission: (j - i + 1) <= burst + rate (t_j - t_i)
    for all admissions i <= j, i.e. with g(k) = k - rate t_k, g(j) - min(g(i), i <= j)
    <= burst - 1. False refusal: a reference bucket replaying the admissions had a token."""
    by_replica: dict[str, list[Record]] = defaultdict(list)
    for r in mine:
        by_replica[r.replica].append(r)
    for rs in by_replica.values():
        lowest, k = math.inf, 0
        tokens, last = float(limit.burst), rs[0].t if rs else 0.0
        for r in rs:
            tokens = min(limit.burst, tokens + (r.t - last) * limit.rate_per_s)
            last = r.t
            if not r.admitted:
                if r.refused_by == "tenant" and tokens >= 1 + TOKEN_SLACK:
                    verdict.false_refusals += 1
                continue
            tokens -= 1
            g = k - limit.rate_per_s * r.t
            k += 1
            lowest = min(lowest, g)
            if g - lowest > limit.burst - 1 + TOKEN_SLACK:
                verdict.over_admissions.append(
                    f"{r.replica} at t={r.t:.3f}: more than burst + rate x L"
                )
                lowest = g  # report each excess once


def _in_flight(mine: list[Record], cap: int, verdict: LimiterVerdict) -> None:
    by_replica: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for r in mine:
        if r.admitted:
            by_replica[r.replica] += [(r.t, 1), (r.end if r.end is not None else r.t, -1)]
    for events in by_replica.values():
        now = 0
        for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # ends before starts
            now += step
            verdict.max_in_flight = max(verdict.max_in_flight, now)
    if verdict.max_in_flight > cap:
        verdict.over_admissions.append(f"{verdict.max_in_flight} in flight > cap {cap}")


def _decision_times(mine: list[Record], limit: LimitUnderTest, verdict: LimiterVerdict) -> None:
    for r in mine:
        took = r.decision_ms or 0.0
        verdict.max_decision_ms = max(verdict.max_decision_ms, took)
        bound = limit.store_timeout_ms + DECISION_SLACK_MS + (r.loop_lag_ms or 0.0)
        if r.degraded and took > bound:
            verdict.slow_decisions.append(took)
