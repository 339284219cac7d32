"""cache-stampede: a hot key expires under many concurrent readers.

Two gateway replicas with a read-through cache (TTL 500 ms) in front of three KV nodes
whose answers to the gateways take STORE_MS longer than usual (a loaded database: what
makes a fill take long enough for readers to pile up behind it). READERS callers read
one hot key, back to back, through the gateways in turn.

Unsafe (a TTL and nothing else): every read that finds the key expired fills it itself,
so at each expiry the store gets one call per reader that arrives during the fill.
Safe (memcache leases with coalescing): the first read after an expiry fills it and every
other read is served the expired value or waits for that one fill: one backend call per
replica per expiry. Measured from the gateways' journals: backend calls per expiry, and
the readers' p99.
"""

from __future__ import annotations

import statistics

from chaos import gateway_calls, nemesis
from chaos.chaos_mesh.steps import MeshStep
from chaos.checkers.latency import latency_ms
from chaos.experiments.base import DECISIONS, Experiment, Finding, Mode, RunData
from chaos.experiments.gateway_configs import gateway_mode
from chaos.gateway_calls import HOT_KEY, GatewayLoadSpec
from chaos.nemesis import Fault
from cluster.backend import Cluster
from cluster.client import SyncKvClient
from services.gateway.call_record import CallRecord
from services.gateway.journal import read_journals
from services.runtime.topology import Group, Topology

READERS = 32
TTL_S = 0.5
STORE_MS = 30
BACKEND_CALLS = ("miss", "refresh")  # cache outcomes that cost a call to the store
STAMPEDE_CALLS = 2.0  # more backend calls than this per expiry, on average: a stampede


def slow_store(at_s: float, duration_s: float) -> Fault:
    return nemesis.slow_store("slow-store", STORE_MS, at_s, duration_s)


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[GatewayLoadSpec, list[Fault]]:
    with SyncKvClient.for_topology(cluster.topology) as kv:
        kv.put(HOT_KEY, b"the hot value")  # a cached "found": misses only at expiry
    spec = GatewayLoadSpec(api_key="reader-key", callers=READERS, call="kv-get")
    return spec, [slow_store(0.0, duration_s)]


def expiries(records: list[CallRecord]) -> list[int]:
    """Backend calls per expiry, per replica: its calls to the store come in bursts, one
    per expiry, a TTL apart; a burst is the calls within half a TTL of its first."""
    bursts: list[int] = []
    for replica in sorted({r.replica for r in records}):
        calls = sorted(r.t for r in records if r.replica == replica and r.cache in BACKEND_CALLS)
        start = None
        for t in calls:
            if start is None or t - start > TTL_S / 2:
                bursts.append(0)
                start = t
            bursts[-1] += 1
    return bursts


def judge(data: RunData, mode: Mode) -> Finding:
    assert data.folder is not None
    records = [r for r in read_journals(data.folder / DECISIONS) if r.cache is not None]
    bursts = expiries(records)
    mean = statistics.fmean(bursts) if bursts else 0.0
    reads = latency_ms(data.operations, "call", 0.5, data.duration_s)
    outcomes = {
        o: sum(1 for r in records if r.cache == o)
        for o in sorted({r.cache for r in records if r.cache})
    }
    stampede = mean > STAMPEDE_CALLS
    summary = (
        f"{len(bursts)} expiries over {len({r.replica for r in records})} replicas: "
        f"{mean:.1f} backend calls per expiry on average, {max(bursts, default=0)} at most; "
        f"reads' p99 {reads['p99']:.1f} ms (p50 {reads['p50']:.1f})"
    )
    figures: dict[str, float] = {
        "readers": READERS,
        "ttl_ms": TTL_S * 1000,
        "store_latency_ms": STORE_MS,
        "expiries": len(bursts),
        "backend_calls_per_expiry_mean": round(mean, 2),
        "backend_calls_per_expiry_max": max(bursts, default=0),
        "reads_p50_ms": round(reads["p50"], 2),
        "reads_p99_ms": round(reads["p99"], 2),
        **{f"cache_{o}": float(n) for o, n in outcomes.items()},
    }
    return Finding(stampede, summary, "", figures)


EXPERIMENT = Experiment(
    name="cache-stampede",
    title="A hot key expires under many readers",
    sources=(
        "DoorDash Engineering, Avoiding Cache Stampede at DoorDash (2018)",
        "Nishtala et al., Scaling Memcache at Facebook, NSDI 2013: leases",
        "Vattani, Chierichetti, Lowenstein, Optimal Probabilistic Cache Stampede "
        "Prevention, VLDB 2015 (XFetch)",
    ),
    hypothesis=(
        f"{READERS} readers read one hot key through a cache with a {TTL_S * 1000:.0f} ms TTL "
        f"in front of a store that answers in {STORE_MS} ms. Unsafe (a TTL only): each expiry "
        f"sends every reader that arrives during the fill to the store, more than "
        f"{STAMPEDE_CALLS:g} backend calls per expiry on average. Safe (leases with "
        "coalescing): one backend call per replica and expiry; the others are served the "
        "expired value or wait for that fill."
    ),
    unsafe=gateway_mode("cache-stampede", "unsafe", "a TTL and nothing else", True),
    safe=gateway_mode(
        "cache-stampede", "safe", "memcache leases and coalescing: one fill per expiry", False
    ),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (
        MeshStep(
            "slow-store", "delay", "all", "kv", 0.0, 1.0, peers="gateway", latency_ms=STORE_MS
        ),
    ),
    doc="docs/experiments/cache-stampede.md",
    topology=Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("gateway", 2))),
    workload=gateway_calls.run,
)
