"""Rate and concurrency limiters: small pure classes, a clock injected, no I/O.

Each rate limiter answers `take(n)` with a `Decision` carrying what the RateLimit header
fields mean (limit, remaining, reset) and, when refused, how long to wait (retry-after).
The bound each one keeps is stated on its class and checked by a property test
(tests/unit/gateway/test_limits.py) against a fake clock:

    token bucket       admitted in any interval of length L <= burst + rate * L
    leaky bucket       the same bound (GCRA: the leaky bucket as a meter)
    fixed window       admitted per window <= limit
    sliding log        admitted in any window of its length <= limit (exact)
    sliding counter    admitted per fixed window <= limit, and the weighted estimate <= limit
    concurrency        in flight <= cap
"""

from services.gateway.limits.concurrency import ConcurrencyLimiter
from services.gateway.limits.decision import Clock, Decision
from services.gateway.limits.fixed_window import FixedWindow
from services.gateway.limits.leaky_bucket import LeakyBucket
from services.gateway.limits.sliding_log import SlidingLog
from services.gateway.limits.sliding_window import SlidingWindowCounter
from services.gateway.limits.token_bucket import TokenBucket

__all__ = [
    "Clock",
    "ConcurrencyLimiter",
    "Decision",
    "FixedWindow",
    "LeakyBucket",
    "SlidingLog",
    "SlidingWindowCounter",
    "TokenBucket",
]
