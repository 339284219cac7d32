"""How the gateway calls its backends without making a bad moment worse: small pure
classes, a clock injected where time matters, each tested alone.

    RetryBudget     gRFC A6 retry throttling: retries stop when too many calls fail
    CircuitBreaker  per backend node: closed, open, half-open on a failure-rate window
    (bulkheads are `limits.ConcurrencyLimiter`s, one per backend group; backoff with
    full jitter is `services.runtime.backoff.Backoff`)
"""

from services.gateway.resilience.breaker import BreakerState, CircuitBreaker
from services.gateway.resilience.budget import RetryBudget

__all__ = ["BreakerState", "CircuitBreaker", "RetryBudget"]
