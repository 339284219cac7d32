"""Token bucket: `burst` tokens at most, refilled at `rate_per_s`; a request takes n.

Bound: admitted in any interval of length L <= burst + rate_per_s * L."""

from __future__ import annotations

import math

from services.gateway.limits.decision import Clock, Decision, check_rate


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int, clock: Clock) -> None:
        check_rate("token bucket", rate_per_s, burst)
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        return now

    def take(self, n: int = 1) -> Decision:
        self._refill()
        allowed = n <= self._tokens
        if allowed:
            self._tokens -= n
        missing = max(0.0, n - self._tokens) if not allowed else 0.0
        return Decision(
            allowed,
            self.burst,
            math.floor(self._tokens),
            reset_s=(self.burst - self._tokens) / self.rate_per_s,
            retry_after_s=missing / self.rate_per_s if n <= self.burst else math.inf,
        )
