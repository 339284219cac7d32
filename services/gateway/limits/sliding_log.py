"""Sliding log: the time of every admitted request in the last `window_s`; exact, and
memory in proportion to the limit.

Bound: admitted in any window of length window_s <= limit."""

from __future__ import annotations

import math
from collections import deque

from services.gateway.limits.decision import Clock, Decision, check_window


class SlidingLog:
    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        check_window("sliding log", limit, window_s)
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._log: deque[float] = deque()

    def take(self, n: int = 1) -> Decision:
        now = self._clock()
        while self._log and self._log[0] <= now - self.window_s:
            self._log.popleft()
        allowed = len(self._log) + n <= self.limit
        if allowed:
            self._log.extend([now] * n)
        reset_s = self._log[-1] + self.window_s - now if self._log else 0.0
        if allowed:
            retry = 0.0
        elif n > self.limit:
            retry = math.inf
        else:  # the oldest entries whose expiry frees room for n
            retry = self._log[len(self._log) + n - self.limit - 1] + self.window_s - now
        return Decision(allowed, self.limit, self.limit - len(self._log), reset_s, retry)
