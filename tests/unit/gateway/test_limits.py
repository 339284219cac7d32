"""Each limiter against the bound it states, with a fake clock (hypothesis drives the
arrivals): never over-admits, and the exact ones never refuse while budget remains."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.limits import (
    ConcurrencyLimiter,
    FixedWindow,
    LeakyBucket,
    SlidingLog,
    SlidingWindowCounter,
    TokenBucket,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Arrivals: (seconds since the last one, requests at that moment).
ARRIVALS = st.lists(st.tuples(st.floats(0, 0.5), st.integers(1, 4)), min_size=1, max_size=120)


def admitted_times(
    limiter_take: object, clock: FakeClock, arrivals: list[tuple[float, int]]
) -> list[float]:
    assert callable(limiter_take)
    times = []
    for gap, count in arrivals:
        clock.now += gap
        for _ in range(count):
            if limiter_take().allowed:
                times.append(clock.now)
    return times


def max_in_any_interval(times: list[float], length: float) -> int:
    """The most timestamps in any closed interval of `length`."""
    most, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] > length + 1e-9:
            j += 1
        most = max(most, i - j + 1)
    return most


@settings(max_examples=200, deadline=None)
@given(ARRIVALS, st.floats(0.5, 20), st.integers(1, 10), st.sampled_from(["token", "leaky"]))
def test_buckets_admit_at_most_burst_plus_rate_times_length(
    arrivals: list[tuple[float, int]], rate: float, burst: int, kind: str
) -> None:
    clock = FakeClock()
    bucket = (TokenBucket if kind == "token" else LeakyBucket)(rate, burst, clock)
    times = admitted_times(bucket.take, clock, arrivals)
    for length in (0.0, 0.1, 0.5, 1.0, 3.0):
        assert max_in_any_interval(times, length) <= burst + rate * length + 1e-6


@settings(max_examples=200, deadline=None)
@given(ARRIVALS, st.floats(0.5, 20), st.integers(1, 10))
def test_a_token_bucket_refuses_only_when_short_of_a_token(
    arrivals: list[tuple[float, int]], rate: float, burst: int
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, burst, clock)
    tokens, at = float(burst), clock.now  # the reference model
    for gap, count in arrivals:
        clock.now += gap
        for _ in range(count):
            tokens = min(burst, tokens + (clock.now - at) * rate)
            at = clock.now
            decision = bucket.take()
            assert decision.allowed == (tokens >= 1 - 1e-9)
            if decision.allowed:
                tokens -= 1
            else:
                assert 0 < decision.retry_after_s <= 1 / rate + 1e-9


@settings(max_examples=200, deadline=None)
@given(ARRIVALS, st.integers(1, 10), st.floats(0.2, 3))
def test_a_fixed_window_admits_at_most_the_limit_per_window_and_refuses_only_when_full(
    arrivals: list[tuple[float, int]], limit: int, window_s: float
) -> None:
    clock = FakeClock()
    fixed = FixedWindow(limit, window_s, clock)
    counts: dict[int, int] = {}
    for gap, count in arrivals:
        clock.now += gap
        for _ in range(count):
            window = math.floor(clock.now / window_s)
            decision = fixed.take()
            assert decision.allowed == (counts.get(window, 0) < limit)
            if decision.allowed:
                counts[window] = counts.get(window, 0) + 1
            assert decision.remaining == limit - counts.get(window, 0)
    assert all(c <= limit for c in counts.values())


@settings(max_examples=200, deadline=None)
@given(ARRIVALS, st.integers(1, 10), st.floats(0.2, 3))
def test_a_sliding_log_is_exact(
    arrivals: list[tuple[float, int]], limit: int, window_s: float
) -> None:
    clock = FakeClock()
    log = SlidingLog(limit, window_s, clock)
    times: list[float] = []
    for gap, count in arrivals:
        clock.now += gap
        for _ in range(count):
            recent = [t for t in times if t > clock.now - window_s]
            decision = log.take()
            assert decision.allowed == (len(recent) < limit)
            if decision.allowed:
                times.append(clock.now)
            else:  # the retry-after is when the oldest entry leaves the window
                assert decision.retry_after_s == pytest.approx(recent[0] + window_s - clock.now)
    assert max_in_any_interval(times, window_s * 0.999) <= limit


@settings(max_examples=200, deadline=None)
@given(ARRIVALS, st.integers(1, 10), st.floats(0.2, 3))
def test_a_sliding_window_counter_keeps_its_estimate_and_each_window_under_the_limit(
    arrivals: list[tuple[float, int]], limit: int, window_s: float
) -> None:
    clock = FakeClock()
    counter = SlidingWindowCounter(limit, window_s, clock)
    per_window: dict[int, int] = {}
    for gap, count in arrivals:
        clock.now += gap
        for _ in range(count):
            if counter.take().allowed:
                window = math.floor(clock.now / window_s)
                per_window[window] = per_window.get(window, 0) + 1
            assert counter.estimate(clock.now) <= limit + 1e-6
    assert all(c <= limit for c in per_window.values())


@given(st.lists(st.booleans(), max_size=200), st.integers(1, 8))
def test_a_concurrency_limiter_never_exceeds_its_cap(ops: list[bool], cap: int) -> None:
    limiter, held = ConcurrencyLimiter(cap), 0
    for acquire in ops:
        if acquire:
            got = limiter.try_acquire()
            assert got == (held < cap)
            held += got
        elif held:
            limiter.release()
            held -= 1
        assert limiter.in_flight == held <= cap


def test_bad_limits_are_refused_with_a_clear_error() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="token bucket needs rate > 0"):
        TokenBucket(0, 5, clock)
    with pytest.raises(ValueError, match="fixed window needs limit >= 1"):
        FixedWindow(0, 1.0, clock)
    with pytest.raises(RuntimeError, match="released more than was acquired"):
        ConcurrencyLimiter(1).release()


def test_a_request_larger_than_the_limit_can_never_be_admitted() -> None:
    clock = FakeClock()
    for limiter in (
        TokenBucket(1, 3, clock),
        LeakyBucket(1, 3, clock),
        FixedWindow(3, 1, clock),
        SlidingLog(3, 1, clock),
        SlidingWindowCounter(3, 1, clock),
    ):
        decision = limiter.take(4)
        assert not decision.allowed and decision.retry_after_s == math.inf


@pytest.mark.parametrize(
    "make",
    [
        lambda clock: TokenBucket(5.0, 3, clock),
        lambda clock: LeakyBucket(5.0, 3, clock),
        lambda clock: FixedWindow(3, 1.0, clock),
        lambda clock: SlidingLog(3, 1.0, clock),
        lambda clock: SlidingWindowCounter(3, 1.0, clock),
    ],
)
@given(steps=st.lists(st.tuples(st.floats(0, 0.5), st.integers(1, 2), st.booleans()), max_size=40))
@settings(max_examples=100, deadline=None)
def test_taking_nothing_reads_without_changing_later_decisions(
    make: Callable[[Callable[[], float]], Any], steps: list[tuple[float, int, bool]]
) -> None:
    """`take(0)`, how `faultlab gateway limits` reads a limiter, is invisible to callers."""
    now = [0.0]
    peeked, plain = make(lambda: now[0]), make(lambda: now[0])
    for wait_s, n, peek in steps:
        now[0] += wait_s
        if peek:
            assert peeked.take(0).allowed
        assert peeked.take(n) == plain.take(n)
