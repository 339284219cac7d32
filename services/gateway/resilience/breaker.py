"""A circuit breaker per backend node (closed, open, half-open), on a failure-rate window.

Closed: calls pass; the last `window` outcomes are kept, and once at least `min_calls`
are known and the share of failures reaches `failure_rate`, it opens. Open: calls are
refused at once for `open_s`. Half-open: up to `probes` calls pass; one success closes
it (a fresh window), one failure opens it again. The transitions are resilience4j's and
Hystrix's; only failures that say the node is unwell should be counted (a refused bad
request is the caller's failure, not the node's).
"""

from __future__ import annotations

import enum
from collections import deque

from services.gateway.limits import Clock


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(
        self,
        clock: Clock,
        *,
        failure_rate: float = 0.5,
        window: int = 20,
        min_calls: int = 10,
        open_s: float = 1.0,
        probes: int = 1,
    ) -> None:
        if not 0 < failure_rate <= 1 or window < 1 or not 1 <= min_calls <= window:
            raise ValueError("a breaker needs 0 < failure_rate <= 1 and 1 <= min_calls <= window")
        if open_s <= 0 or probes < 1:
            raise ValueError("a breaker needs open_s > 0 and probes >= 1")
        self._clock = clock
        self.failure_rate, self.min_calls, self.open_s, self.probes = (
            failure_rate,
            min_calls,
            open_s,
            probes,
        )
        self._outcomes: deque[bool] = deque(maxlen=window)  # True: a failure
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probing = 0
        self.transitions: list[tuple[float, BreakerState]] = []

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.open_s:
            self._enter(BreakerState.HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """May a call go to the node now? (A half-open breaker counts the probe it lets by.)"""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._probing < self.probes:
            self._probing += 1
            return True
        return False

    def record(self, failed: bool) -> None:
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._probing = max(0, self._probing - 1)
            self._enter(BreakerState.OPEN if failed else BreakerState.CLOSED)
            return
        if state is BreakerState.OPEN:
            return  # a call let by before it opened: the window restarts on closing
        self._outcomes.append(failed)
        failures = sum(self._outcomes)
        if len(self._outcomes) >= self.min_calls and failures >= self.failure_rate * len(
            self._outcomes
        ):
            self._enter(BreakerState.OPEN)

    def _enter(self, state: BreakerState) -> None:
        self._state = state
        if state is BreakerState.OPEN:
            self._opened_at = self._clock()
        if state is BreakerState.CLOSED:
            self._outcomes.clear()
        self._probing = 0
        self.transitions.append((self._clock(), state))
