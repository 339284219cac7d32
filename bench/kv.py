"""Puts per second and latency against a real 3-node KV cluster (fsync=batch), beside the
ceiling of the same gRPC stack: a trivial unary RPC (Admin.Ping) on the same link.

    python bench/kv.py [--seconds 5] [--inflight 1 16 64]

One Python client process, `inflight` concurrent requests, unary calls through the
client's Toxiproxy link to the leader. Then kill -9 of the leader and the time until the
first write succeeds again.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from faultlab.admin.v1 import admin_pb2, admin_pb2_grpc
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from cluster.client import KvClient
from cluster.launcher import LocalCluster
from services.runtime.grpc_options import CHANNEL_OPTIONS
from services.runtime.topology import Group, Topology


async def drive(
    call: Callable[[int], Awaitable[object]], inflight: int, seconds: float
) -> tuple[float, float, float]:
    """(ops/s, p50 ms, p99 ms) of `call` with `inflight` concurrent callers."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await call(next(counter))
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, q[49], q[98]


async def measure(cluster: LocalCluster, seconds: float, levels: list[int]) -> None:
    leader = cluster.wait_for_leader()
    address = cluster.topology.client_address(leader)
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        kv = kv_pb2_grpc.KVStub(channel)
        admin = admin_pb2_grpc.AdminStub(channel)
        value = b"x" * 100

        async def put(i: int) -> object:
            return await kv.Put(kv_pb2.PutRequest(key=f"bench/{i % 1000}", value=value), timeout=5)

        async def ping(i: int) -> object:
            return await admin.Ping(admin_pb2.PingRequest(from_node="bench"), timeout=5)

        await drive(put, 4, 1.0)  # warm up
        head = f"{'in flight':>9} {'puts/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
        print(f"{head} | {'echo RPC/s':>10} {'p50 ms':>7} | put/echo")
        for n in levels:
            p_rate, p50, p99 = await drive(put, n, seconds)
            e_rate, e50, _ = await drive(ping, n, seconds)
            row = f"{n:>9} {p_rate:>8,.0f} {p50:>7.2f} {p99:>7.2f}"
            print(f"{row} | {e_rate:>10,.0f} {e50:>7.2f} | {p_rate / e_rate:.2f}")


async def failover(cluster: LocalCluster) -> None:
    leader = cluster.wait_for_leader()
    async with KvClient.for_topology(cluster.topology, timeout_s=0.5, attempts=100) as client:
        await client.put("failover", b"before")
        cluster.kill(leader)
        killed = time.monotonic()
        await client.put("failover", b"after")
        took = time.monotonic() - killed
        print(f"kill -9 of leader {leader} -> first successful write: {took:.2f}s")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--inflight", type=int, nargs="+", default=[1, 16, 64])
    args = p.parse_args()
    topology = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
    run_dir = Path(tempfile.mkdtemp(prefix="faultlab-bench-"))
    with LocalCluster(topology, run_dir, node_env={"FAULTLAB_FSYNC": "batch"}) as cluster:
        asyncio.run(measure(cluster, args.seconds, args.inflight))
        asyncio.run(failover(cluster))


if __name__ == "__main__":
    main()
