"""stale-read: a leader cut off from its quorum keeps answering reads from its own state.

Written as a scenario (chaos/scenario): readers pinned to the leader of the moment, other
clients following whoever leads, that leader isolated from 25% to 80% of the run, and
the linearizability checker; the modes differ only in the read consistency."""

from __future__ import annotations

from faultlab.kv.v1 import kv_pb2

from chaos.experiments.base import Mode
from chaos.scenario import Scenario, checkers, faults, workloads

SCENARIO = Scenario(
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
    # Readers pinned to the node that will be cut off (what does it answer?); everyone
    # else follows whoever leads.
    workload=workloads.kv_register(
        clients=0, leader_readers=2, readers=1, writers=2, rate_per_client=25
    ),
    timeline=[faults.isolate("leader", start=0.25, end=0.80)],
    checkers=[checkers.linearizable()],
    unsafe=Mode(
        "unsafe", "reads served from local state (consistency STALE)", {}, True, kv_pb2.STALE
    ),
    safe=Mode("safe", "ReadIndex reads (consistency LINEARIZABLE)", {}, False, kv_pb2.LINEARIZABLE),
    doc="docs/experiments/stale-read.md",
)

EXPERIMENT = SCENARIO.experiment()
