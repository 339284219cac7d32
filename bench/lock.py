"""The lock service on a real 3-node cluster (fsync=batch): acquire -> release round trips,
uncontended acquisitions per second, and the failover of the lock leader with a lock held.

    python bench/lock.py [--seconds 5] [--inflight 1 16]

- round trip: one session acquires and releases one lock, over and over (two commits);
- acquisitions/s: `inflight` sessions, each on a lock of its own, acquire + release;
- failover: a session holds a lock; kill -9 of the lock leader; the time until another
  session's acquire succeeds, and whether the holder and its token survived.

Writes bench/results/lock.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from cluster.client import LockClient
from cluster.launcher import LocalCluster
from services.runtime.topology import Group, Topology

RESULTS = Path(__file__).parent / "results" / "lock.json"


async def round_trips(locks: LockClient, inflight: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(i: int) -> None:
        async with locks.session(ttl_s=10, owner=f"bench-{i}") as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await session.acquire(f"bench/{i}", wait=False)
                await session.release(f"bench/{i}")
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(inflight)))
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "inflight": inflight,
        "acquisitions_per_s": round(len(latencies) / elapsed, 1),
        "round_trip_p50_ms": round(q[49], 2),
        "round_trip_p99_ms": round(q[98], 2),
    }


async def failover(cluster: LocalCluster, locks: LockClient) -> dict[str, float | bool]:
    async with locks.session(ttl_s=5, owner="holder") as holder:
        token = await holder.acquire("failover", wait=False)
        leader = cluster.wait_for_leader(group="lock")
        cluster.kill(leader)
        killed = time.monotonic()
        async with locks.session(ttl_s=5, owner="probe") as probe:
            await probe.acquire("after-failover", wait=False)
            first_acquire_s = time.monotonic() - killed
        still = await locks.holder("failover")
        kept = still.session_id == holder.id and still.token == token
        return {"first_acquire_after_kill_s": round(first_acquire_s, 2), "holder_kept_lock": kept}


async def measure(cluster: LocalCluster, seconds: float, levels: list[int]) -> dict[str, object]:
    async with LockClient.for_topology(cluster.topology) as locks:
        rows = [await round_trips(locks, n, seconds) for n in levels]
        for r in rows:
            print(
                f"{r['inflight']:>3} in flight: {r['acquisitions_per_s']:>7} acquire+release/s, "
                f"p50 {r['round_trip_p50_ms']} ms, p99 {r['round_trip_p99_ms']} ms"
            )
        fail = await failover(cluster, locks)
        print(
            f"kill -9 of the lock leader -> first acquire {fail['first_acquire_after_kill_s']} s;"
            f" holder kept its lock and token: {fail['holder_kept_lock']}"
        )
    return {"round_trips": rows, "failover": fail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--inflight", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    topology = Topology.build("127.0.0.1", 0, (Group("lock", 3),))
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(topology, Path(tmp)) as cluster:
        cluster.wait_for_leader(group="lock")
        results = asyncio.run(measure(cluster, args.seconds, args.inflight))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"seconds": args.seconds, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
