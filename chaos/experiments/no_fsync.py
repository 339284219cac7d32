"""no-fsync: a store that acknowledges writes it has not fsynced loses them all when the
power goes everywhere at once.

A KV cluster and a log broker (three nodes each, every node's data on a lazy disk) take a
steady acknowledged load: KV writers put unique keys back to back, producers send unique
records with acks=ALL. At 60% of the run the whole cluster loses power: every node is
killed -9 and every disk drops what it had not made durable; the nodes start again, and
after the run one read of every key and of the whole partition counts what survived.

The cut is of every node at once, so no replica holds what the others lost: with nothing
fsynced, every acknowledged write is gone, whatever the timing. Unsafe (FAULTLAB_FSYNC=
never, Redis `appendfsync no`): acknowledged writes and records are lost. Safe (batch:
one fsync per Raft Ready, before anything is sent or acknowledged): none are, and the
report states what the fsyncs cost in acknowledged writes per second, both modes measured
on the same machine (and the same FUSE layer) in the same run.
"""

from __future__ import annotations

import asyncio

from chaos import acked_writes, producing
from chaos.acked_writes import AckedWritesSpec
from chaos.chaos_mesh.steps import MeshStep
from chaos.checkers import durability
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.nemesis import Fault, power_cut
from cluster.backend import Cluster
from cluster.client.log import ALL
from services.runtime.topology import Group, Topology

TOPIC = "no-fsync"
CUT_AT = 0.6  # of the run


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[AckedWritesSpec, list[Fault]]:
    [group] = asyncio.run(producing.create_topic(cluster.topology, TOPIC))
    cluster.wait_for_leader(group=group, timeout_s=20.0)
    # Producers send back to back too (a rate no producer reaches), so both stores run
    # at what they sustain: that is what the safe mode's cost is measured in.
    log = producing.LogSpec(TOPIC, acks=ALL, producers=2, rate_per_producer=10_000.0)
    spec = AckedWritesSpec(prefix="nf", writers=4, log=log)
    cut = power_cut("power-cut", None, at_s=CUT_AT * duration_s, down_s=0.5)
    return spec, [cut]


def judge(data: RunData, mode: Mode) -> Finding:
    kv = durability.check_kv(data.operations)
    log = durability.check_log(data.operations)
    cut_s = _cut_at_s(data)
    kv_rate = durability.acked_writes_per_s(data.operations, 0.0, cut_s)
    log_rate = _acked_sends_per_s(data, cut_s)
    figures = {
        **kv.figures(),
        "log_acknowledged": log.acknowledged,
        "log_lost": len(log.lost),
        "kv_acked_writes_per_s": round(kv_rate, 1),
        "log_acked_records_per_s": round(log_rate, 1),
    }
    lost = len(kv.lost) + len(log.lost)
    rates = f"{kv_rate:.0f} KV writes/s and {log_rate:.0f} records/s acknowledged before the cut"
    if lost:
        summary = (
            f"acknowledged data lost in the power cut: {len(kv.lost)} of "
            f"{kv.acknowledged} KV writes, {len(log.lost)} of {log.acknowledged} "
            f"log records; {rates}"
        )
    else:
        summary = (
            f"nothing acknowledged was lost: {kv.acknowledged} KV writes and "
            f"{log.acknowledged} log records read back after the cut; {rates}"
        )
    return Finding(bool(lost), summary, _examples(kv.lost, log.lost), figures)


def _cut_at_s(data: RunData) -> float:
    cuts = [start for name, start, _ in data.history.fault_windows() if name == "power-cut"]
    return cuts[0] if cuts else data.duration_s


def _acked_sends_per_s(data: RunData, until_s: float) -> float:
    acked = [
        op
        for op in data.operations
        if op.f == "send"
        and op.outcome == "ok"
        and op.end_ns is not None
        and op.end_ns / 1e9 < until_s
    ]
    return len(acked) / until_s if until_s > 0 else 0.0


def _examples(kv_lost: list[str], log_lost: list[str]) -> str:
    lines = []
    for what, lost in (("KV keys", kv_lost), ("log records", log_lost)):
        if lost:
            more = f" and {len(lost) - 5} more" if len(lost) > 5 else ""
            lines.append(
                f"- {what} acknowledged and gone: " + ", ".join(f"`{v}`" for v in lost[:5]) + more
            )
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="no-fsync",
    title="Acknowledged, never fsynced: a whole-cluster power cut takes it all",
    sources=(
        "Redis documentation, Persistence: appendfsync no / everysec / always",
        "PostgreSQL wiki, Fsync Errors (fsyncgate, 2018)",
        "Alagappan et al., Protocol-Aware Recovery for Consensus-Based Storage (FAST 2018)",
        "Jepsen, LazyFS (2023): losing un-fsynced writes on demand",
    ),
    hypothesis=(
        "Replication does not make a write durable when every replica holds it only in "
        "memory: a power cut of the whole cluster takes every write no node fsynced. "
        "Unsafe (fsync=never): acknowledged KV writes and log records are lost. Safe "
        "(fsync=batch, one fsync per Raft Ready before anything is acknowledged): none "
        "are, at a cost in throughput the report states."
    ),
    unsafe=Mode(
        "unsafe", "FAULTLAB_FSYNC=never (Redis appendfsync no)", {"FAULTLAB_FSYNC": "never"}, True
    ),
    safe=Mode(
        "safe",
        "FAULTLAB_FSYNC=batch (group commit, fsync before acknowledging)",
        {"FAULTLAB_FSYNC": "batch"},
        False,
    ),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (
        MeshStep(
            "power-cut",
            "pod-kill",
            "leader",
            "log",
            CUT_AT,
            CUT_AT + 0.01,
            note="a pod kill: unsynced data survives it; the lab's power cut drops it",
        ),
    ),
    doc="docs/experiments/no-fsync.md",
    topology=Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("log", 3))),
    workload=acked_writes.run,
    lazy_disks=True,
)
