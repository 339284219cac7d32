"""What a limiter answers, in the terms of the RateLimit header fields
(draft-ietf-httpapi-ratelimit-headers): the limit, what remains of it, when it resets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]  # monotonic seconds


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # the quota of the current policy
    remaining: int  # what a caller may still take now
    reset_s: float  # until the quota is whole again (a window's end; a bucket refilled)
    retry_after_s: float = 0.0  # when refused: the earliest a retry can be admitted
    # A shared limit decided without its store (services/gateway/shared.py), by its policy.
    degraded: bool = False


def check_rate(kind: str, rate_per_s: float, burst: int) -> None:
    if rate_per_s <= 0 or burst < 1:
        raise ValueError(f"a {kind} needs rate > 0 and burst >= 1, not {rate_per_s}, {burst}")


def check_window(kind: str, limit: int, window_s: float) -> None:
    if limit < 1 or window_s <= 0:
        raise ValueError(f"a {kind} needs limit >= 1 and window > 0, not {limit}, {window_s}")
