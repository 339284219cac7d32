"""Leaky bucket as a meter, by GCRA (the generic cell rate algorithm of ATM networks, as
Cloudflare and redis-cell use it): a theoretical arrival time (TAT) advances by one
emission interval T = 1 / rate_per_s per admitted request; a request is admitted when
TAT - now <= burst tolerance, (burst - 1) * T. No counters and no refill loop: one number.

Bound: the token bucket's, admitted in any interval of length L <= burst + rate_per_s * L."""

from __future__ import annotations

import math

from services.gateway.limits.decision import Clock, Decision, check_rate


class LeakyBucket:
    def __init__(self, rate_per_s: float, burst: int, clock: Clock) -> None:
        check_rate("leaky bucket", rate_per_s, burst)
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._interval_s = 1.0 / rate_per_s
        self._tolerance_s = (burst - 1) * self._interval_s
        self._tat = clock()

    def take(self, n: int = 1) -> Decision:
        now = self._clock()
        tat = max(self._tat, now)
        new_tat = tat + n * self._interval_s
        allow_at = new_tat - self._tolerance_s - self._interval_s
        allowed = allow_at <= now + 1e-12
        if allowed:
            self._tat = new_tat
        backlog_s = max(0.0, self._tat - now)
        remaining = max(
            0,
            math.floor(
                (self._tolerance_s + self._interval_s - backlog_s) / self._interval_s + 1e-9
            ),
        )
        return Decision(
            allowed,
            self.burst,
            remaining,
            reset_s=backlog_s,
            retry_after_s=0.0 if allowed else (allow_at - now if n <= self.burst else math.inf),
        )
