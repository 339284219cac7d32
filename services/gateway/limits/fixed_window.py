"""Fixed window: at most `limit` per window [k * window_s, (k + 1) * window_s).

Bound: admitted per window <= limit. (Up to 2 * limit can pass in a window's length that
straddles a boundary: the reason for the sliding variants.)"""

from __future__ import annotations

import math

from services.gateway.limits.decision import Clock, Decision, check_window


class FixedWindow:
    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        check_window("fixed window", limit, window_s)
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._window = -1
        self._count = 0

    def take(self, n: int = 1) -> Decision:
        now = self._clock()
        window = math.floor(now / self.window_s)
        if window != self._window:
            self._window, self._count = window, 0
        reset_s = (window + 1) * self.window_s - now
        allowed = self._count + n <= self.limit
        if allowed:
            self._count += n
        retry = 0.0 if allowed else (reset_s if n <= self.limit else math.inf)
        return Decision(allowed, self.limit, self.limit - self._count, reset_s, retry)
