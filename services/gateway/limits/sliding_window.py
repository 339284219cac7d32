"""Sliding window counter (Cloudflare's): two counters, this fixed window's and the last
one's, and the estimate last * (1 - elapsed share of this window) + this. Constant
memory; an approximation of the sliding log that assumes the last window's requests
were spread evenly.

Bound: admitted per fixed window <= limit, and the estimate never exceeds the limit."""

from __future__ import annotations

import math

from services.gateway.limits.decision import Clock, Decision, check_window


class SlidingWindowCounter:
    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        check_window("sliding window", limit, window_s)
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._window = -1
        self._current = 0
        self._previous = 0

    def estimate(self, now: float) -> float:
        self._roll(now)
        elapsed = now / self.window_s - self._window
        return self._previous * (1.0 - elapsed) + self._current

    def _roll(self, now: float) -> None:
        window = math.floor(now / self.window_s)
        if window == self._window:
            return
        self._previous = self._current if window == self._window + 1 else 0
        self._window, self._current = window, 0

    def take(self, n: int = 1) -> Decision:
        now = self._clock()
        allowed = self.estimate(now) + n <= self.limit + 1e-9
        if allowed:
            self._current += n
        left = self.limit - self.estimate(now)
        reset_s = (self._window + 2) * self.window_s - now  # the previous window's weight gone
        retry = 0.0 if allowed else (self._retry_after(now, n) if n <= self.limit else math.inf)
        return Decision(allowed, self.limit, max(0, math.floor(left + 1e-9)), reset_s, retry)

    def _retry_after(self, now: float, n: int) -> float:
        """The weight of the last window decays linearly: when does the estimate fit n?"""
        room = self.limit - n - self._current
        end_s = (self._window + 1) * self.window_s - now
        if room < 0 or self._previous == 0:
            return end_s  # only the next window can fit it
        # previous * (1 - elapsed) <= room  <=>  elapsed >= 1 - room / previous
        elapsed_needed = 1.0 - room / self._previous
        at = (self._window + elapsed_needed) * self.window_s
        return max(0.0, min(at - now, end_s))
