"""Writers that keep count of what was acknowledged, then a read of everything: the
workload of the durability experiments (no-fsync, slow-disk) and of the power-cut trials.

KV: each writer puts unique keys PREFIX/WRITER/N back to back (closed loop: the rate is
what the cluster sustains, which is what the safe mode's cost is measured in). After the
run, the process "final-kv" reads the whole prefix with a linearizable Range, retrying
until the cluster answers. A key acknowledged and absent from that read is lost.

Log (optional): chaos.producing's producers, consumer and final read of every partition,
side by side, in the same history.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass

import grpc

from chaos import producing
from chaos.checkers.durability import FINAL_KV
from chaos.history import History
from chaos.workload import failure_fields, outcome_of
from cluster.client import KvClient
from cluster.waiting import wait_until_async
from services.runtime.backoff import Backoff
from services.runtime.topology import Topology

MAX_KEYS = 10_000  # what one Range returns at most (services/kv/commands.py)
KEY_DIGITS = 9  # fixed width, so a prefix one digit longer splits a range in ten
DOWN_BACKOFF = Backoff(base_s=0.02, cap_s=0.5)


@dataclass(frozen=True)
class AckedWritesSpec:
    prefix: str = "acked"
    writers: int = 4
    timeout_s: float = 1.0  # per attempt
    log: producing.LogSpec | None = None
    final_read_s: float = 30.0  # how long the final read may wait for the cluster


async def run(
    spec: AckedWritesSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    deadline = time.monotonic() + duration_s
    work = [
        _writer(f"w{i}", spec, topology, history, deadline, random.Random(seed + i))
        for i in range(1, spec.writers + 1)
    ]
    if spec.log is not None:
        work.append(producing.run(spec.log, topology, history, duration_s, seed))
    await asyncio.gather(*work)
    await read_all(spec, topology, history)


async def _writer(
    name: str,
    spec: AckedWritesSpec,
    topology: Topology,
    history: History,
    deadline: float,
    rng: random.Random,
) -> None:
    down = 0  # calls in a row the cluster did not answer
    async with KvClient.for_topology(topology, timeout_s=spec.timeout_s, attempts=3, rng=rng) as kv:
        for n in itertools.count(1):
            if time.monotonic() >= deadline:
                return
            key = f"{spec.prefix}/{name}/{n:0{KEY_DIGITS}d}"
            history.record(name, "invoke", "write", key=key, value=str(n))
            try:
                await kv.put(key, str(n).encode())
            except grpc.aio.AioRpcError as e:
                history.record(name, outcome_of(e), "write", key=key, **failure_fields(e))
                if not _cluster_answered(e):  # down (a power cut): back off, as clients do
                    await asyncio.sleep(DOWN_BACKOFF.delay_s(down, rng))
                    down += 1
                continue
            down = 0
            history.record(name, "ok", "write", key=key)


def _cluster_answered(e: grpc.aio.AioRpcError) -> bool:
    return e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def read_all(spec: AckedWritesSpec, topology: Topology, history: History) -> None:
    """Every key of every writer, as one operation of process "final-kv", polled until
    the cluster answers or `final_read_s` runs out (a read changes nothing: a failed
    attempt is recorded as `fail`)."""
    async with KvClient.for_topology(topology, timeout_s=2.0) as kv:

        async def attempt() -> bool:
            history.record(FINAL_KV, "invoke", "range", key=spec.prefix)
            try:
                parts = [
                    await _keys_under(kv, f"{spec.prefix}/w{i}/")
                    for i in range(1, spec.writers + 1)
                ]
            except grpc.aio.AioRpcError as e:
                history.record(FINAL_KV, "fail", "range", key=spec.prefix, **failure_fields(e))
                return False
            keys = sorted(set().union(*parts))
            history.record(FINAL_KV, "ok", "range", key=spec.prefix, value=keys)
            return True  # an answer, even one that holds no key (every write lost)

        await wait_until_async(attempt, spec.final_read_s, "the final read", interval_s=0.2)


async def _keys_under(kv: KvClient, prefix: str) -> set[str]:
    """Every key under `prefix`: keys end in fixed-width digits, so a prefix holding more
    than one Range returns splits into ten, one per next digit."""
    got = await kv.range(prefix, limit=MAX_KEYS)
    if not got.more:
        return {item.key for item in got.kvs}
    parts = await asyncio.gather(*(_keys_under(kv, prefix + d) for d in "0123456789"))
    return set().union(*parts)
