"""slow-disk: one node's fsync turns slow. Does the leader's commit latency follow it?

Three KV nodes on lazy disks; writers put unique keys back to back. From 30% to 80% of
the run every fsync on one node's disk takes DELAY_MS longer. A write commits once a
majority holds it durably: the leader and one follower. So a slow follower is outvoted by
the fast pair, and a slow leader is on the path of every commit (its own fsync comes
before it counts its own vote; thesis §10.2.1 lets it send to followers meanwhile, which
hides the fsync only when it is not the slowest of the majority).

Unsafe ("the anomaly": the slow disk is the leader's): the commit latency's median
follows the disk, at least DELAY_MS / 2. Safe (the slow disk is one follower's): it stays
below that, near its baseline. The report gives the baseline and the fault-time p50 and
p99 of both, measured in the same run.
"""

from __future__ import annotations

from chaos import acked_writes
from chaos.acked_writes import AckedWritesSpec
from chaos.chaos_mesh.steps import MeshStep
from chaos.checkers import durability
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.nemesis import Fault, slow_disk
from cluster.backend import Cluster

DELAY_MS = 100.0
START, END = 0.3, 0.8  # of the run
SETTLE_S = 0.5  # after the fault starts, before its latencies count (writes in flight)


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[AckedWritesSpec, list[Fault]]:
    role = str(mode.settings["slow"])
    fault = slow_disk(
        f"slow-fsync-{role}",
        role,
        DELAY_MS,
        at_s=START * duration_s,
        duration_s=(END - START) * duration_s,
    )
    return AckedWritesSpec(prefix="sd", writers=4), [fault]


def judge(data: RunData, mode: Mode) -> Finding:
    [(_, start_s, end_s)] = data.history.fault_windows()
    baseline = durability.write_latency_ms(data.operations, 0.0, start_s)
    slow = durability.write_latency_ms(data.operations, start_s + SETTLE_S, end_s)
    follows = slow["p50"] >= DELAY_MS / 2
    role = mode.settings["slow"]
    summary = (
        f"slow fsync ({DELAY_MS:g} ms) on the {role}: commit p50 {slow['p50']:.1f} ms "
        f"(p99 {slow['p99']:.1f}) against a baseline of {baseline['p50']:.1f} ms "
        f"(p99 {baseline['p99']:.1f}): the commit latency "
        f"{'follows' if follows else 'does not follow'} the slow disk"
    )
    figures = {
        "fsync_delay_ms": DELAY_MS,
        "baseline_p50_ms": round(baseline["p50"], 2),
        "baseline_p99_ms": round(baseline["p99"], 2),
        "slow_p50_ms": round(slow["p50"], 2),
        "slow_p99_ms": round(slow["p99"], 2),
        "baseline_writes": baseline["count"],
        "slow_writes": slow["count"],
    }
    durable = durability.check_kv(data.operations)
    if durable.lost:
        summary += f"; and {len(durable.lost)} acknowledged writes lost (a bug)"
    return Finding(follows or bool(durable.lost), summary, "", figures)


EXPERIMENT = Experiment(
    name="slow-disk",
    title="A slow disk slows commits only when it is in every majority: the leader's",
    sources=(
        "Ongaro, Consensus: Bridging Theory and Practice (2014), §10.2.1: "
        "writing to the leader's disk in parallel",
        "etcd documentation, Hardware recommendations and wal_fsync_duration_seconds",
        "Huang et al., Gray Failure: The Achilles' Heel of Cloud-Scale Systems (HotOS 2017)",
    ),
    hypothesis=(
        f"A write commits once a majority holds it durably. With one node's fsync "
        f"{DELAY_MS:g} ms slow, a slow follower is outvoted by the fast leader and "
        "follower, and commit latency stays near its baseline; a slow leader is in every "
        f"majority, and the median commit latency follows its disk (>= {DELAY_MS / 2:g} ms)."
    ),
    unsafe=Mode("unsafe", "the leader's disk is slow", {}, True, settings={"slow": "leader"}),
    safe=Mode("safe", "one follower's disk is slow", {}, False, settings={"slow": "follower"}),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (
        MeshStep(
            f"slow-fsync-{mode.settings['slow']}",
            "io-latency",
            str(mode.settings["slow"]),
            "kv",
            START,
            END,
            latency_ms=int(DELAY_MS),
        ),
    ),
    doc="docs/experiments/slow-disk.md",
    workload=acked_writes.run,
    lazy_disks=True,
)
