"""The gateway's call policies, pure: the retry budget's arithmetic (gRFC A6), the
breaker's transitions, and backoff's bounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.resilience import BreakerState, CircuitBreaker, RetryBudget
from services.runtime.backoff import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_stops_retries_below_half_its_tokens_and_refills_by_ratio() -> None:
    budget = RetryBudget(max_tokens=10, token_ratio=0.5)
    for _ in range(5):
        assert budget.allows_retry()
        budget.on_failure()
    assert budget.tokens == 5 and not budget.allows_retry(), "at half: no more retries"
    budget.on_success()
    assert budget.tokens == 5.5 and budget.allows_retry()
    for _ in range(100):
        budget.on_success()
    assert budget.tokens == 10, "never above max_tokens"


@given(outcomes=st.lists(st.booleans(), max_size=300))
@settings(max_examples=200)
def test_retries_allowed_are_bounded_by_the_budget(outcomes: list[bool]) -> None:
    """Whatever the outcomes, the retries a budget allows are at most its spare tokens
    plus token_ratio per success: the bound on the extra load it lets retries add."""
    budget = RetryBudget(max_tokens=10, token_ratio=0.1)
    retries = successes = 0
    for succeeded in outcomes:
        if succeeded:
            successes += 1
            budget.on_success()
            continue
        budget.on_failure()
        if budget.allows_retry():
            retries += 1
    assert retries <= 10 / 2 + 0.1 * successes + 1e-9


def test_the_breaker_opens_on_the_failure_rate_then_probes_then_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, failure_rate=0.5, window=10, min_calls=4, open_s=1.0)
    for failed in (False, True, False):
        breaker.record(failed)
    assert breaker.state is BreakerState.CLOSED, "3 known: below min_calls"
    breaker.record(True)
    assert breaker.state is BreakerState.OPEN, "2 of 4 failed"
    assert not breaker.allow()
    clock.now = 1.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow(), "one probe at a time"
    breaker.record(True)
    assert breaker.state is BreakerState.OPEN, "the probe failed"
    clock.now = 2.5
    assert breaker.allow()
    breaker.record(False)
    assert breaker.state is BreakerState.CLOSED
    breaker.record(True)
    assert breaker.state is BreakerState.CLOSED, "a fresh window after closing"
    assert [s for _, s in breaker.transitions] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


@pytest.mark.parametrize(
    "bad",
    [dict(failure_rate=0), dict(window=0), dict(min_calls=30), dict(open_s=0), dict(probes=0)],
)
def test_a_breaker_with_bad_settings_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(FakeClock(), **bad)  # type: ignore[arg-type]


@given(attempt=st.integers(0, 100), seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_under_its_capped_ceiling(attempt: int, seed: int) -> None:
    backoff = Backoff(base_s=0.01, cap_s=1.0)
    ceiling = backoff.ceiling_s(attempt)
    assert ceiling == min(1.0, 0.01 * 2**attempt)
    assert 0 <= backoff.delay_s(attempt, random.Random(seed)) <= ceiling
