"""How the gateway calls backends: the `[calls]` table of its configuration.

    [calls]
    timeout_ms = 0              # a cap on each call at the gateway; 0: the caller's deadline
    workers = 0                 # calls forwarded at once; more wait for a free one (0: no cap)
    bulkhead = 0                # calls in flight to one backend group (kv, lock, log); more
                                # are refused at once, OVERLOADED (0: no bulkhead)
    retries = 0                 # attempts after the first, on a failure that did not apply
    backoff_base_ms = 25        # capped exponential backoff between them...
    backoff_cap_ms = 1000
    jitter = true               # ...with full jitter; false: at once, all together
    retry_budget = false        # gRFC A6 throttling: retries stop when most attempts fail
    budget_max_tokens = 10
    budget_token_ratio = 0.1
    breaker = false             # a circuit breaker per backend node
    breaker_failure_rate = 0.5
    breaker_window = 20
    breaker_min_calls = 10
    breaker_open_ms = 1000
    hedge = false               # stale reads (any replica answers): a second attempt to
    hedge_delay_ms = 0          # another replica after this long (0: the observed p95)

Every knob defaults to off, the gateway of the unsafe modes; the experiments' safe modes
turn them on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.gateway.resilience import CircuitBreaker, RetryBudget
from services.gateway.settings import flag, number, only
from services.runtime.backoff import Backoff
from services.runtime.config import ConfigError

DEFAULT_BACKOFF = Backoff(0.025, 1.0)


@dataclass(frozen=True)
class BreakerSettings:
    """A circuit breaker per backend node (resilience/breaker.py)."""

    failure_rate: float = 0.5
    window: int = 20
    min_calls: int = 10
    open_s: float = 1.0

    def build(self, clock: Callable[[], float]) -> CircuitBreaker:
        return CircuitBreaker(
            clock,
            failure_rate=self.failure_rate,
            window=self.window,
            min_calls=self.min_calls,
            open_s=self.open_s,
        )


@dataclass(frozen=True)
class BudgetSettings:
    """gRFC A6 retry throttling per backend group (resilience/budget.py)."""

    max_tokens: float = 10.0
    token_ratio: float = 0.1

    def build(self) -> RetryBudget:
        return RetryBudget(self.max_tokens, self.token_ratio)


@dataclass(frozen=True)
class CallPolicy:
    timeout_s: float | None = None
    workers: int = 0
    bulkhead: int = 0
    retries: int = 0
    backoff: Backoff | None = DEFAULT_BACKOFF  # None: retry at once
    budget: BudgetSettings | None = None
    breaker: BreakerSettings | None = None
    hedge: bool = False
    hedge_delay_s: float | None = None  # None: the observed p95


_KEYS = {
    "timeout_ms",
    "workers",
    "bulkhead",
    "retries",
    "backoff_base_ms",
    "backoff_cap_ms",
    "jitter",
    "retry_budget",
    "budget_max_tokens",
    "budget_token_ratio",
    "breaker",
    "breaker_failure_rate",
    "breaker_window",
    "breaker_min_calls",
    "breaker_open_ms",
    "hedge",
    "hedge_delay_ms",
}


def parse_calls(spec: Any, where: str) -> CallPolicy:
    only(spec, _KEYS, where)

    def count(key: str, default: int) -> int:
        value: int = number(spec, key, where, int, default, minimum=0)
        return value

    def amount(key: str, default: float) -> float:
        value: float = number(spec, key, where, float, default, minimum=0)
        return value

    backoff = Backoff(amount("backoff_base_ms", 25) / 1000, amount("backoff_cap_ms", 1000) / 1000)
    breaker = None
    if flag(spec, "breaker", where, False):
        breaker = BreakerSettings(
            amount("breaker_failure_rate", 0.5),
            count("breaker_window", 20),
            count("breaker_min_calls", 10),
            amount("breaker_open_ms", 1000) / 1000,
        )
    budget = None
    if flag(spec, "retry_budget", where, False):
        budget = BudgetSettings(amount("budget_max_tokens", 10), amount("budget_token_ratio", 0.1))
    try:  # the breaker's and the budget's own checks, made now rather than at the first call
        _ = breaker.build(lambda: 0.0) if breaker else None
        _ = budget.build() if budget else None
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from e
    return CallPolicy(
        timeout_s=amount("timeout_ms", 0) / 1000 or None,
        workers=count("workers", 0),
        bulkhead=count("bulkhead", 0),
        retries=count("retries", 0),
        backoff=backoff if flag(spec, "jitter", where, True) else None,
        budget=budget,
        breaker=breaker,
        hedge=flag(spec, "hedge", where, False),
        hedge_delay_s=amount("hedge_delay_ms", 0) / 1000 or None,
    )
