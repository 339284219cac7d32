"""tail-latency: one slow replica, and reads that any replica may answer.

Three KV nodes behind one gateway; four readers make stale reads through it back to back,
spread by the gateway over the three replicas in turn. From 20% to 90% of the run the
link from the gateway to one replica adds LATENCY_MS +- JITTER_MS to every answer (a slow
disk, a noisy neighbour, a GC pause: a replica that is up and slow).

Unsafe (no hedging): a third of the reads wait for the slow replica, so the p99 of reads
is the slow replica's latency. Safe (hedged reads, Dean & Barroso's "hedged requests"):
a read still waiting after HEDGE_MS is also sent to the next replica, the first answer
wins and the loser is cancelled: the p99 falls to about the hedge delay plus a fast
replica's latency, at the cost of the hedges sent (counted from the gateway's journal).
"""

from __future__ import annotations

from chaos import gateway_calls
from chaos.chaos_mesh.steps import MeshStep
from chaos.checkers.latency import latency_ms
from chaos.experiments.base import DECISIONS, Experiment, Finding, Mode, RunData
from chaos.experiments.gateway_configs import gateway_mode
from chaos.gateway_calls import GatewayLoadSpec
from chaos.history import Operation
from chaos.nemesis import Fault
from chaos.net import Network
from cluster.backend import Cluster
from services.gateway.journal import read_journals
from services.runtime.topology import Group, Topology

LATENCY_MS, JITTER_MS = 150, 50
HEDGE_MS = 20
START, END = 0.2, 0.9
SETTLE_S = 0.3
SLOW_REPLICA = "kv2"


def slow_replica(at_s: float, duration_s: float) -> Fault:
    def inject(cluster: Cluster, net: Network) -> str:
        net.latency(("gateway1", SLOW_REPLICA), LATENCY_MS, JITTER_MS)
        return f"gateway1 -> {SLOW_REPLICA}: answers {LATENCY_MS} +- {JITTER_MS} ms late"

    return Fault("slow-replica", at_s, duration_s, inject, lambda c, net: net.heal())


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[GatewayLoadSpec, list[Fault]]:
    spec = GatewayLoadSpec(api_key="reader-key", callers=4, call="kv-stale-get")
    return spec, [slow_replica(START * duration_s, (END - START) * duration_s)]


def judge(data: RunData, mode: Mode) -> Finding:
    [(_, start_s, end_s)] = data.history.fault_windows()
    # The baseline: reads that began and ended before the fault (after the first connects).
    baseline = latency_ms(data.operations, "call", 0.5, start_s - LATENCY_MS / 1000)
    slow = latency_ms(data.operations, "call", start_s + SETTLE_S, end_s)
    share = slow_replica_share(data.operations, start_s + SETTLE_S, end_s, slow["p99"])
    assert data.folder is not None
    records = read_journals(data.folder / DECISIONS)
    hedged = sum(1 for r in records if r.hedged)
    extra_load = hedged / len(records) if records else 0.0
    # Judged by who answered the slowest reads, not by how slow they were: a busy machine
    # (or a pause of the client's own loop) slows reads whichever replica serves them, so
    # it can lift a p99 on either side of any line, but it cannot make the slow replica
    # the one that answered them.
    tail_follows = share >= 0.5
    summary = (
        f"reads' p99 {slow['p99']:.1f} ms (p50 {slow['p50']:.1f}) with one replica "
        f"{LATENCY_MS} ms slow, against a baseline p99 of {baseline['p99']:.1f} ms; "
        f"{SLOW_REPLICA} answered {share:.0%} of the reads at or above that p99; "
        f"{hedged} hedges for {len(records)} reads ({extra_load:.0%} extra load): "
        f"the tail {'is' if tail_follows else 'is not'} the slow replica's"
    )
    figures = {
        "latency_ms": LATENCY_MS,
        "hedge_delay_ms": HEDGE_MS,
        "baseline_p50_ms": round(baseline["p50"], 2),
        "baseline_p99_ms": round(baseline["p99"], 2),
        "slow_p50_ms": round(slow["p50"], 2),
        "slow_p99_ms": round(slow["p99"], 2),
        "tail_share_of_slow_replica": round(share, 3),
        "reads": len(records),
        "hedges": hedged,
        "extra_load": round(extra_load, 3),
    }
    return Finding(tail_follows, summary, "", figures)


def slow_replica_share(
    operations: list[Operation], start_s: float, end_s: float, p99_ms: float
) -> float:
    """Of the reads invoked in [start_s, end_s) that took p99_ms or longer, the share the
    slow replica answered (the completion's node is the replica that served the read)."""
    tail = [
        op.node
        for op in operations
        if op.f == "call"
        and op.outcome == "ok"
        and op.end_ns is not None
        and start_s <= op.start_ns / 1e9 < end_s
        and (op.end_ns - op.start_ns) / 1e6 >= p99_ms
    ]
    return sum(1 for node in tail if node == SLOW_REPLICA) / len(tail) if tail else 0.0


EXPERIMENT = Experiment(
    name="tail-latency",
    title="One slow replica owns the tail, unless reads are hedged",
    sources=(
        "Dean and Barroso, The Tail at Scale, CACM 56(2), 2013: hedged requests",
        "gRFC A6, gRPC Retry Design: hedging policy",
    ),
    hypothesis=(
        f"Reads spread over three replicas, one of them {LATENCY_MS} ms slow: without "
        "hedging the slow replica answers most of the reads at or above the p99; with a "
        f"hedge to another replica after {HEDGE_MS} ms a fast replica answers them, for at "
        "most one extra attempt per read."
    ),
    unsafe=gateway_mode(
        "tail-latency", "unsafe", "reads spread over the replicas, not hedged", True
    ),
    safe=gateway_mode(
        "tail-latency", "safe", f"a read waiting {HEDGE_MS} ms is hedged to another replica", False
    ),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (
        MeshStep(
            "slow-replica",
            "delay",
            SLOW_REPLICA,
            "kv",
            START,
            END,
            peers="gateway",
            latency_ms=LATENCY_MS,
            jitter_ms=JITTER_MS,
        ),
    ),
    doc="docs/experiments/tail-latency.md",
    topology=Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("gateway", 1))),
    workload=gateway_calls.run,
)
