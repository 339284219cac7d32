"""Concurrency limiter: at most `cap` requests in flight (a bulkhead, per tenant or per
backend). `try_acquire` answers at once; the caller releases when its request is done.

Bound: in flight <= cap, always."""

from __future__ import annotations


class ConcurrencyLimiter:
    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"a concurrency limit needs cap >= 1, not {cap}")
        self.cap = cap
        self.in_flight = 0

    def try_acquire(self) -> bool:
        if self.in_flight >= self.cap:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        if self.in_flight == 0:
            raise RuntimeError("released more than was acquired")
        self.in_flight -= 1
