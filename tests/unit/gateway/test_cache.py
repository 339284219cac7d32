"""The gateway cache's rules, with a hand-turned clock and fills that are coroutines:
what a lookup finds, which fill may store, and how many backend calls N concurrent
readers of an expired key make under each switch."""

from __future__ import annotations

import asyncio

import pytest

from services.gateway.cache.read_through import ReadThrough
from services.gateway.cache.settings import CacheSettings, parse_cache
from services.gateway.cache.store import CacheStore, Found
from services.runtime.config import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def settings(**kw: object) -> CacheSettings:
    return CacheSettings(ttl_s_by_prefix=(("hot/", 1.0), ("", 10.0)), **kw)  # type: ignore[arg-type]


def test_ttl_by_the_longest_prefix_and_a_key_under_none_is_not_cached() -> None:
    parsed = parse_cache({"ttl_ms": {"": 1000, "user/": 50, "user/admin/": 5}}, "t")
    assert parsed.ttl_s("user/admin/1") == 0.005 and parsed.ttl_s("user/1") == 0.05
    assert parsed.ttl_s("other") == 1.0
    assert parse_cache({"ttl_ms": {"a/": 10}}, "t").ttl_s("b") is None
    with pytest.raises(ConfigError, match="ttl_ms must be a table"):
        parse_cache({}, "t")
    with pytest.raises(ConfigError, match="must be a positive number"):
        parse_cache({"ttl_ms": {"a/": 0}}, "t")
    with pytest.raises(ConfigError, match="unknown key"):
        parse_cache({"ttl_ms": {"a/": 1}, "coalescing": True}, "t")


def test_fresh_then_stale_within_the_grace_then_expired() -> None:
    clock = Clock()
    store = CacheStore(clock, lambda: 1.0, 10)
    s = settings(stale_while_revalidate_s=0.5)
    assert store.lookup("hot/k", s)[0] is Found.MISSING
    assert store.store("hot/k", b"v", True, 1.0, 0.01, store.started())
    assert store.lookup("hot/k", s)[0] is Found.FRESH
    clock.now += 1.2
    assert store.lookup("hot/k", s)[0] is Found.STALE
    clock.now += 0.5
    found, entry = store.lookup("hot/k", s)
    assert found is Found.EXPIRED and entry is not None and entry.value == b"v"


def test_xfetch_refreshes_early_more_often_as_expiry_nears() -> None:
    clock = Clock()
    draws = iter([0.5, 1e-9])
    store = CacheStore(clock, lambda: next(draws), 10)
    s = settings(early_expiration_beta=1.0)
    store.store("hot/k", b"v", True, 1.0, 0.1, store.started())
    clock.now += 0.9  # 100 ms to go; a fill took 100 ms
    assert store.lookup("hot/k", s)[0] is Found.FRESH  # -0.1*ln(0.5) = 69 ms: not yet...
    assert store.lookup("hot/k", s)[0] is Found.EARLY  # ...a rare small draw: refresh now


def test_a_fill_older_than_an_invalidation_is_not_stored() -> None:
    store = CacheStore(Clock(), lambda: 1.0, 10)
    before_write = store.started()
    store.invalidate("k")  # the write's invalidation arrives while the fill is out
    assert not store.store("k", b"old", True, 1.0, 0.0, before_write)
    assert store.lookup("k", settings())[0] is Found.MISSING
    assert store.store("k", b"new", True, 1.0, 0.0, store.started())
    store.clear()
    assert len(store) == 0


def test_the_oldest_entries_go_first() -> None:
    store = CacheStore(Clock(), lambda: 1.0, 2)
    for key in ("a", "b", "c"):
        store.store(key, b"v", True, 1.0, 0.0, store.started())
    assert store.lookup("a", settings())[0] is Found.MISSING and len(store) == 2


async def _every_task_waits() -> None:
    """One turn of the loop: ReadThrough.get awaits nothing before its fill or its wait
    on another's fill, so every task started before this has reached one of them."""
    await asyncio.sleep(0)


async def _readers_of_an_expired_key(s: CacheSettings, readers: int = 20) -> tuple[int, set[str]]:
    """`readers` concurrent Gets of a key that just expired; returns the backend calls
    and the outcomes."""
    clock = Clock()
    cache = ReadThrough(CacheStore(clock, lambda: 1.0, 10), lambda raw: raw != b"")
    calls = 0
    release = asyncio.Event()

    async def fill(background: bool) -> bytes:
        nonlocal calls
        calls += 1
        await release.wait()  # every reader arrives while the first fill is out
        return b"value"

    release.set()
    await cache.get("hot/k", 1.0, s, fill)  # warm
    calls = 0
    release.clear()
    clock.now += 1.01 + s.stale_while_revalidate_s
    tasks = [asyncio.create_task(cache.get("hot/k", 1.0, s, fill)) for _ in range(readers)]
    await _every_task_waits()
    release.set()
    answers = await asyncio.gather(*tasks)
    await cache.close()
    assert all(a.value == b"value" for a in answers)
    return calls, {a.outcome for a in answers}


async def test_without_mitigations_every_reader_of_an_expired_key_fills_it() -> None:
    calls, outcomes = await _readers_of_an_expired_key(settings())
    assert calls == 20 and outcomes == {"miss"}


async def test_coalescing_makes_one_fill_and_the_others_wait_for_it() -> None:
    calls, outcomes = await _readers_of_an_expired_key(settings(coalesce=True))
    assert calls == 1 and outcomes == {"miss", "coalesced"}


async def test_a_lease_makes_one_fill_and_its_rivals_take_the_stale_value() -> None:
    calls, outcomes = await _readers_of_an_expired_key(settings(lease=True, lease_wait_s=1.0))
    assert calls == 1 and outcomes == {"miss", "stale"}


async def test_stale_while_revalidate_serves_at_once_and_refreshes_once() -> None:
    s = settings(stale_while_revalidate_s=5.0)
    clock = Clock()
    cache = ReadThrough(CacheStore(clock, lambda: 1.0, 10), lambda raw: True)
    calls = 0

    async def fill(background: bool) -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return f"v{calls}".encode()

    await cache.get("hot/k", 1.0, s, fill)
    clock.now += 2.0
    answers = await asyncio.gather(*(cache.get("hot/k", 1.0, s, fill) for _ in range(10)))
    assert [a.value for a in answers] == [b"v1"] * 10
    assert sorted(a.outcome for a in answers) == ["refresh"] + ["stale"] * 9
    while cache._background:  # the one refresh, until it has stored its answer
        await asyncio.gather(*cache._background)
    assert calls == 2 and (await cache.get("hot/k", 1.0, s, fill)).value == b"v2"
    await cache.close()


async def test_not_found_is_cached_only_when_negative_caching_is_on() -> None:
    for negative_ttl_s, calls_expected in ((0.0, 3), (5.0, 1)):
        cache = ReadThrough(CacheStore(Clock(), lambda: 1.0, 10), lambda raw: raw != b"")
        calls = 0

        async def fill(background: bool) -> bytes:
            nonlocal calls
            calls += 1
            return b""  # not found

        s = settings(negative_ttl_s=negative_ttl_s)
        for _ in range(3):
            await cache.get("k", 10.0, s, fill)
        assert calls == calls_expected


async def test_a_failed_fill_fails_every_call_that_waited_on_it() -> None:
    cache = ReadThrough(CacheStore(Clock(), lambda: 1.0, 10), lambda raw: True)
    gate = asyncio.Event()

    async def fill(background: bool) -> bytes:
        await gate.wait()
        raise RuntimeError("the store is down")

    s = settings(coalesce=True)
    tasks = [asyncio.create_task(cache.get("k", 1.0, s, fill)) for _ in range(3)]
    await _every_task_waits()
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
