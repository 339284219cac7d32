"""The final read of the durability workload splits a writer's prefix that one Range
cannot hold, by the next digit of its fixed-width keys."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chaos import acked_writes


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
