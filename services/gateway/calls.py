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

from dataclasses import dataclass
from typing import Any

from services.gateway.resilience import CircuitBreaker
from services.runtime.backoff import Backoff
from services.runtime.config import ConfigError

DEFAULT_BACKOFF = Backoff(0.025, 1.0)


@dataclass(frozen=True)
class CallPolicy:
    timeout_s: float | None = None
    workers: int = 0
    bulkhead: int = 0
    retries: int = 0
    backoff: Backoff | None = DEFAULT_BACKOFF  # None: retry at once
    budget: tuple[float, float] | None = None  # (max_tokens, token_ratio)
    breaker: dict[str, float] | None = None  # CircuitBreaker's keyword arguments
    hedge: bool = False
    hedge_delay_s: float | None = None  # None: the observed p95


_INTS = {"workers", "bulkhead", "retries", "breaker_window", "breaker_min_calls"}
_FLOATS = {
    "timeout_ms",
    "backoff_base_ms",
    "backoff_cap_ms",
    "budget_max_tokens",
    "budget_token_ratio",
    "breaker_failure_rate",
    "breaker_open_ms",
    "hedge_delay_ms",
}
_BOOLS = {"jitter", "retry_budget", "breaker", "hedge"}


def parse_calls(spec: Any, where: str) -> CallPolicy:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(spec) - _INTS - _FLOATS - _BOOLS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for key, value in spec.items():
        if key in _BOOLS and not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, not {value!r}")
        if key in _INTS | _FLOATS and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value < 0
            or (key in _INTS and not isinstance(value, int))
        ):
            raise ConfigError(f"{where}: {key} must be a number >= 0, not {value!r}")
    g = spec.get
    backoff = Backoff(g("backoff_base_ms", 25) / 1000, g("backoff_cap_ms", 1000) / 1000)
    breaker = None
    if g("breaker", False):
        breaker = {
            "failure_rate": g("breaker_failure_rate", 0.5),
            "window": g("breaker_window", 20),
            "min_calls": g("breaker_min_calls", 10),
            "open_s": g("breaker_open_ms", 1000) / 1000,
        }
    if breaker is not None:
        try:  # its own checks, made now rather than at the first call
            CircuitBreaker(lambda: 0.0, **breaker)
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from e
    budget = None
    if g("retry_budget", False):
        budget = (float(g("budget_max_tokens", 10)), float(g("budget_token_ratio", 0.1)))
    return CallPolicy(
        timeout_s=g("timeout_ms", 0) / 1000 or None,
        workers=g("workers", 0),
        bulkhead=g("bulkhead", 0),
        retries=g("retries", 0),
        backoff=backoff if g("jitter", True) else None,
        budget=budget,
        breaker=breaker,
        hedge=g("hedge", False),
        hedge_delay_s=g("hedge_delay_ms", 0) / 1000 or None,
    )


def _count_or_number(value: Any, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return False
    return isinstance(value, int) or not whole
