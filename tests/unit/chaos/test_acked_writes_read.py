"""The final read of the durability workload splits a writer's prefix that one Range
cannot hold, by the next digit of its fixed-width keys."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from chaos import acked_writes
from chaos.history import History


@dataclass
class Item:
    key: str


@dataclass
class Page:
    kvs: list[Item]
    more: bool


class FakeKv:
    """Range over a set of keys, as the KV service answers it (sorted, at most `limit`)."""

    def __init__(self, keys: set[str]) -> None:
        self.keys = sorted(keys)
        self.calls = 0

    async def range(self, prefix: str, limit: int) -> Page:
        self.calls += 1
        matched = [k for k in self.keys if k.startswith(prefix)]
        return Page([Item(k) for k in matched[:limit]], len(matched) > limit)


async def test_every_key_is_read_however_many_there_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acked_writes, "MAX_KEYS", 7)
    keys = {f"sd/w{w}/{n:0{acked_writes.KEY_DIGITS}d}" for w in (1, 2, 12) for n in range(1, 60)}
    kv = FakeKv(keys)
    got = await acked_writes._keys_under(kv, "sd/w1/")  # type: ignore[arg-type]
    assert got == {k for k in keys if k.startswith("sd/w1/")}  # not w12's
    assert kv.calls > 1


class FakeClient(FakeKv):
    @classmethod
    def for_topology(cls, topology: object, **kw: object) -> FakeClient:
        return cls(set())

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


async def test_a_final_read_that_finds_no_key_is_an_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every write lost (no-fsync's unsafe mode on a slow machine): the empty answer ends
    the final read at once; it once polled until its 30 s ran out and failed the run."""
    monkeypatch.setattr(acked_writes, "KvClient", FakeClient)
    history = History()
    spec = acked_writes.AckedWritesSpec(writers=2, final_read_s=30.0)
    await asyncio.wait_for(acked_writes.read_all(spec, None, history), 5)  # type: ignore[arg-type]
    answers = [e for e in history.events if e.process == acked_writes.FINAL_KV]
    assert [(e.type, e.value) for e in answers] == [("invoke", None), ("ok", [])]
