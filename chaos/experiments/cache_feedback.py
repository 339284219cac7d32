"""cache-feedback: a cache-invalidation feedback loop that outlives its trigger.

Facebook, 23 September 2010: a configuration value was changed to one every client found
invalid. Each client then deleted the value from the cache and read the database; the
database, overloaded, answered with errors, which clients also took for invalid values,
so they deleted the key again. Fixing the value did not help: the loop no longer needed
it. The site came back when traffic was cut (Bronson et al. call such a state metastable).

Here: two gateway replicas cache `config/feature` (TTL one minute) in front of a store
that serves one call at a time per replica (a bulkhead of 1), each call taking STORE_MS
(a latency on every gateway->KV link). CLIENTS clients read it back to back and validate
it. A bad value is written at 20% of the run and fixed at 40%; at 70% the traffic is cut
for CUT_S (the caches warmed), then let back.

Unsafe (the 2010 clients, a plain cache): invalid values and errors alike make a client
read again at once with `cache-control: no-cache`, which drops the key and calls the
store; the store refuses all but one call per replica at a time, the refusals keep the
clients in the loop, and their drops keep every fill out of the cache: after the fix,
goodput stays near zero until the traffic is cut. Safe (the fixes the post-mortem and the
paper name): clients keep serving the last good value, do not read errors as invalid
values and back off; the cache makes one fill per key at a time: goodput returns within
RECOVERY_S of the fix.
"""

from __future__ import annotations

import statistics
import time

from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from chaos import cache_feedback, nemesis
from chaos.cache_feedback import BAD, CUT, GOOD, KEY, FeedbackSpec
from chaos.chaos_mesh.steps import MeshStep
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.experiments.gateway_configs import CONFIGS
from chaos.nemesis import Fault
from chaos.net import Network
from cluster.backend import Cluster
from cluster.client import SyncKvClient
from cluster.client.gateway import gateway_addresses
from cluster.metrics import sample
from cluster.waiting import WaitTimeout, wait_until
from services.runtime import tls
from services.runtime.topology import Group, Topology

CLIENTS = 32
STORE_MS = 200
TIMEOUT_S = 1.0
CUT_S = 1.5
BAD_FROM, BAD_UNTIL, CUT_AT = 0.2, 0.4, 0.7
WATCH_S = 30.0  # for a gateway's cache Watch to (re)connect and deliver a write
REWRITE_S = 2.0  # undelivered this long, the good value is written again (_watching)
WATCH_REVISION = "faultlab_gateway_cache_watch_revision"
RECOVERY_S = 2.5  # the safe mode's bound: goodput back this long after the fix
RECOVERED = 0.5  # goodput back to this share of the baseline counts as recovered
COLLAPSED = 0.2  # below this share after the fix, and the failure outlived its trigger


def _mode(name: str, summary: str, policy: str, anomaly: bool) -> Mode:
    config = CONFIGS / f"cache_feedback_{name}.toml"
    env = {"FAULTLAB_GATEWAY_CONFIG": str(config)}
    return Mode(name, summary, env, anomaly, settings={"client policy": policy})


def slow_store(at_s: float, duration_s: float) -> Fault:
    return nemesis.slow_store("slow-store", STORE_MS, at_s, duration_s)


def bad_value(at_s: float, duration_s: float) -> Fault:
    """The trigger: a value every client finds invalid, written straight to the store (a
    configuration push), and the fix, written the same way."""

    def write(cluster: Cluster, value: bytes) -> None:
        with SyncKvClient.for_topology(cluster.topology) as kv:
            kv.put(KEY, value)

    def inject(cluster: Cluster, net: Network) -> str:
        write(cluster, BAD + b": an invalid configuration")
        return f"{KEY} set to a value every client rejects"

    return Fault("bad-value", at_s, duration_s, inject, lambda c, net: write(c, GOOD))


def _warm(cluster: Cluster, revision: int) -> None:
    """Every replica's cache holds the good value before the clients start: a cold
    cache's first misses would be a stampede of their own, not this experiment's. Each
    replica's Watch must first have delivered a write of the good value: until then its
    invalidation, or the empty cache of a Watch still connecting, may come after the
    warming read and start the loop before the bad value."""
    _watching(cluster, revision)
    credentials = (("authorization", "Bearer app-key"),)
    for address in gateway_addresses(cluster.topology).values():
        with tls.sync_channel(address) as channel:
            stub = kv_pb2_grpc.KVStub(channel)
            stub.Get(kv_pb2.GetRequest(key=KEY), timeout=5, metadata=credentials)


def _watching(cluster: Cluster, revision: int) -> None:
    """Until every replica's cache Watch has delivered the latest write of the good value.
    A Watch watches from the moment it connects: one that (re)connected after the write
    at `revision` delivers nothing until the next write, and would be waited on in vain
    (a gateway whose first Watch met a store still starting retries after a backoff, and
    on a busy machine the good value's write fell in that gap: the 30 s wait ran out).
    So each time the wait for a delivery runs past REWRITE_S, the same value is written
    again; every Watch live by then delivers that write."""
    gateways = list(gateway_addresses(cluster.topology))

    def lagging() -> list[str]:
        return [
            g for g in gateways if (sample(cluster.topology, g, WATCH_REVISION) or 0) < revision
        ]

    deadline = time.monotonic() + WATCH_S
    while behind := lagging():
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"timed out after {WATCH_S:.0f}s waiting for the cache Watch of "
                f"{', '.join(behind)} to deliver a write of {KEY} (revision {revision})"
            )
        try:
            wait_until(lambda: not lagging(), REWRITE_S, "the cache Watches to deliver")
        except WaitTimeout:
            with SyncKvClient.for_topology(cluster.topology) as kv:
                revision = kv.put(KEY, GOOD).revision


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[FeedbackSpec, list[Fault]]:
    with SyncKvClient.for_topology(cluster.topology) as kv:
        revision = kv.put(KEY, GOOD).revision
    _warm(cluster, revision)
    spec = FeedbackSpec(
        api_key="app-key",
        policy=str(mode.settings["client policy"]),
        clients=CLIENTS,
        timeout_s=TIMEOUT_S,
        cut_at_s=CUT_AT * duration_s,
        cut_s=CUT_S,
    )
    faults = [
        slow_store(0.0, duration_s),
        bad_value(BAD_FROM * duration_s, (BAD_UNTIL - BAD_FROM) * duration_s),
    ]
    return spec, faults


def goodput(data: RunData, start_s: float, end_s: float) -> float:
    """Reads per second that gave the application a valid value, in [start_s, end_s)."""
    ok = sum(
        1
        for op in data.operations
        if op.f == "read" and op.outcome == "ok" and start_s <= op.start_ns / 1e9 < end_s
    )
    return ok / (end_s - start_s) if end_s > start_s else 0.0


def judge(data: RunData, mode: Mode) -> Finding:
    windows = {name: (start, end) for name, start, end in data.history.fault_windows()}
    bad_start, fixed = windows["bad-value"]
    cut_start, cut_end = windows[CUT]
    baseline = goodput(data, 0.5, bad_start)
    after_fix = goodput(data, fixed + RECOVERY_S, cut_start)
    after_cut = goodput(data, cut_end + 0.5, data.duration_s)
    share = after_fix / baseline if baseline else 0.0
    outlived = share < COLLAPSED
    per_second = [goodput(data, s, s + 1) for s in range(int(data.duration_s))]
    summary = (
        f"goodput {baseline:.0f} reads/s before the bad value, {after_fix:.0f}/s from "
        f"{RECOVERY_S:g} s after its fix until the cut ({share:.0%} of before), "
        f"{after_cut:.0f}/s after the cut: the failure "
        + ("outlived its trigger" if outlived else "ended with its trigger")
    )
    figures = {
        "clients": CLIENTS,
        "store_latency_ms": STORE_MS,
        "goodput_before_per_s": round(baseline, 1),
        "goodput_after_fix_per_s": round(after_fix, 1),
        "goodput_after_fix_share": round(share, 3),
        "goodput_after_cut_per_s": round(after_cut, 1),
        "goodput_min_per_s": round(min(per_second, default=0.0), 1),
        "goodput_median_per_s": round(statistics.median(per_second), 1) if per_second else 0.0,
    }
    return Finding(outlived, summary, "", figures)


EXPERIMENT = Experiment(
    name="cache-feedback",
    title="A cache-invalidation loop outlives the bad value that started it",
    sources=(
        "Facebook, More Details on Today's Outage (Robert Johnson, 23 September 2010)",
        "Bronson, Aghayev, Charapko, Zhu, Metastable Failures in Distributed Systems, HotOS 2021",
    ),
    hypothesis=(
        f"{CLIENTS} clients validate a cached value; a bad value is written, then fixed. "
        "Unsafe (an invalid value or an error makes a client drop the key and read the "
        "store at once): after the fix the loop sustains itself on the store's refusals, "
        f"and goodput stays below {COLLAPSED:.0%} of what it was until traffic is cut. "
        "Safe (keep the last good value, errors are not invalid values, back off; one "
        f"fill per key at a time): goodput is back above {RECOVERED:.0%} within "
        f"{RECOVERY_S:g} s of the fix."
    ),
    unsafe=_mode(
        "unsafe", "invalid or error: drop the key and read the store at once", "delete", True
    ),
    safe=_mode(
        "safe",
        "keep the last good value, back off; the cache fills a key once at a time",
        "keep",
        False,
    ),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (
        MeshStep(
            "slow-store", "delay", "all", "kv", 0.0, 1.0, peers="gateway", latency_ms=STORE_MS
        ),
    ),
    mesh_gaps=(
        "bad-value: a bad value written through the KV API is the workload's act, not a "
        "fault Chaos Mesh injects",
    ),
    doc="docs/experiments/cache-feedback.md",
    topology=Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("gateway", 2))),
    workload=cache_feedback.run,
)
