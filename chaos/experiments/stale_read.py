"""stale-read: a leader cut off from its quorum keeps answering reads from its own state."""

from __future__ import annotations

from faultlab.kv.v1 import kv_pb2

from chaos.checkers.linearizability import check
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.experiments.render import failing_window_md
from chaos.nemesis import Fault, current_leader, isolate_leader
from chaos.workload import ClientSpec, WorkloadSpec
from cluster.backend import Cluster


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[WorkloadSpec, list[Fault]]:
    leader = current_leader(cluster)
    clients = (
        # Readers pinned to the node that will be cut off: what does it answer?
        ClientSpec("reader-old-leader-1", leader, writes=False),
        ClientSpec("reader-old-leader-2", leader, writes=False),
        # Everyone else follows whoever leads.
        ClientSpec("reader-1", None, writes=False),
        ClientSpec("writer-1", None, reads=False),
        ClientSpec("writer-2", None, reads=False),
    )
    spec = WorkloadSpec(clients, read_consistency=mode.read_consistency, rate_per_client=25)
    fault = isolate_leader("isolate-leader", at_s=0.25 * duration_s, duration_s=0.55 * duration_s)
    return spec, [fault]


def judge(data: RunData, mode: Mode) -> Finding:
    result = check(data.operations)
    reads = [op for op in data.operations if op.f == "read"]
    ok_reads = sum(1 for op in reads if op.outcome == "ok")
    figures: dict[str, float] = {
        "reads": len(reads),
        "ok_reads": ok_reads,
        "keys_invalid": len(result.failures),
    }
    if result.valid:
        answered = f"{ok_reads}/{len(reads)} reads answered"
        summary = f"linearizable: {len(data.operations)} operations, {answered}"
        return Finding(False, summary, figures=figures)
    first = result.failures[0]
    return Finding(
        True,
        f"NOT linearizable on {len(result.failures)} key(s); first: {first.key!r}",
        failing_window_md(first),
        figures,
    )


EXPERIMENT = Experiment(
    name="stale-read",
    title="A partitioned leader keeps serving reads",
    sources=(
        "Jepsen analyses of etcd, Consul and others (stale reads from isolated leaders)",
        "Ongaro, Consensus: Bridging Theory and Practice, §6.4 (ReadIndex)",
    ),
    hypothesis=(
        "A leader cut off from the majority still believes it leads for a while, and any node "
        "serving reads from its local state answers with values the majority has already "
        "overwritten. Unsafe (STALE reads): the checker finds a linearizability violation. "
        "Safe (LINEARIZABLE reads through ReadIndex): the cut-off leader cannot confirm its "
        "leadership with a quorum, so it answers no read, and the history is linearizable."
    ),
    unsafe=Mode(
        "unsafe", "reads served from local state (consistency STALE)", {}, True, kv_pb2.STALE
    ),
    safe=Mode("safe", "ReadIndex reads (consistency LINEARIZABLE)", {}, False, kv_pb2.LINEARIZABLE),
    plan=plan,
    judge=judge,
    doc="docs/experiments/stale-read.md",
)
