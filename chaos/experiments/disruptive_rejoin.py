"""disruptive-rejoin: a node back from a partition forces a needless election."""

from __future__ import annotations

import itertools

from chaos.chaos_mesh.steps import MeshStep
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.nemesis import Fault, current_leader, isolate_node
from chaos.workload import ClientSpec, WorkloadSpec
from cluster.backend import Cluster

SETTLE_S = 0.5  # after the heal, before counting the term as "after"


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[WorkloadSpec, list[Fault]]:
    leader = current_leader(cluster)
    follower = next(n.id for n in cluster.topology.nodes if n.id != leader)
    clients = (
        ClientSpec("writer-1", None, reads=False),
        ClientSpec("writer-2", None, reads=False),
        ClientSpec("reader-1", None, writes=False),
    )
    # Long enough for several election timeouts (0.5-1 s each) to pass on the cut-off node.
    fault = isolate_node("isolate-follower", follower, 0.2 * duration_s, 0.4 * duration_s)
    return WorkloadSpec(clients, rate_per_client=25), [fault]


def judge(data: RunData, mode: Mode) -> Finding:
    windows = data.history.fault_windows()
    assert windows, "the nemesis recorded no fault"
    _, start_s, heal_s = windows[0]
    isolated = _isolated_node(data)
    majority = [s for s in data.samples if s.node != isolated]
    before = max((s.term for s in majority if s.time_s <= start_s), default=0)
    after = max((s.term for s in majority if s.time_s >= heal_s), default=before)
    isolated_peak = max((s.term for s in data.samples if s.node == isolated), default=0)
    stall_s = _longest_write_gap_after(data, heal_s)
    figures: dict[str, float] = {
        "majority_term_before": before,
        "majority_term_after": after,
        "isolated_node_peak_term": isolated_peak,
        "longest_write_gap_after_heal_s": stall_s,
    }
    gap = f"longest write gap after the heal {stall_s:.2f}s"
    if after > before:
        summary = (
            f"leader deposed on rejoin: the majority's term went {before} -> {after} "
            f"(the returning node reached term {isolated_peak}); {gap}"
        )
        return Finding(True, summary, figures=figures)
    summary = (
        f"no disruption: the majority stayed in term {before} "
        f"(the returning node reached term {isolated_peak}); {gap}"
    )
    return Finding(False, summary, figures=figures)


def _isolated_node(data: RunData) -> str:
    for e in data.history.events:
        if e.process == "nemesis" and e.type == "invoke":
            return str(e.value).rsplit(" ", 1)[-1]
    raise AssertionError("no isolation recorded")


def _longest_write_gap_after(data: RunData, heal_s: float) -> float:
    times = sorted(
        op.end_ns / 1e9
        for op in data.operations
        if op.f == "write" and op.outcome == "ok" and op.end_ns is not None
    )
    points = [heal_s] + [t for t in times if t >= heal_s]
    return max((b - a for a, b in itertools.pairwise(points)), default=0.0)


EXPERIMENT = Experiment(
    name="disruptive-rejoin",
    title="A node returning from a partition forces a needless election",
    sources=(
        "Ongaro, Consensus: Bridging Theory and Practice, §9.6 (PreVote)",
        "etcd-io/raft: PreVote and CheckQuorum",
    ),
    hypothesis=(
        "A follower cut off from its peers times out again and again. Without PreVote each "
        "timeout raises its term; when it returns, its higher term deposes the healthy leader "
        "and writes stall for an election. Unsafe (PreVote off): the majority's term jumps "
        "after the heal. Safe (PreVote on): the cut-off node never wins a pre-vote, so its "
        "term stays put, and the majority keeps its leader and its term."
    ),
    unsafe=Mode("unsafe", "PreVote off (CheckQuorum on)", {"FAULTLAB_PRE_VOTE": "0"}, True),
    safe=Mode("safe", "PreVote on (CheckQuorum on)", {"FAULTLAB_PRE_VOTE": "1"}, False),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (MeshStep("isolate-follower", "partition", "follower", "kv", 0.2, 0.6),),
    doc="docs/experiments/disruptive-rejoin.md",
)
