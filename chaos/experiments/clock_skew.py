"""clock-skew: a leader whose clock runs slow outlives its lease and serves stale reads.

Written as a scenario (chaos/scenario): readers pinned to the leader of the moment read
with consistency LEASE, other clients follow whoever leads. At 25% of the run the leader's
clock drops to a fifth of real speed (libfaketime, cluster/clocks.py) and the leader is
cut from its peers; both end at 80%. The modes differ only in the drift the lease allows
for (FAULTLAB_MAX_CLOCK_DRIFT): none, or 80%."""

from __future__ import annotations

from faultlab.kv.v1 import kv_pb2

from chaos.experiments.base import Mode
from chaos.scenario import Scenario, checkers, faults, workloads

ELECTION_TICKS = 20  # 1-2 s elections: a lease cut by 80% is still 3 ticks long
LEADER_CLOCK_RATE = 0.2
SAFE_DRIFT = 0.8  # the lease holds for a leader clock at >= 1 - SAFE_DRIFT of real speed
LEASE_TICKS_UNSAFE = ELECTION_TICKS - 1
LEASE_TICKS_SAFE = int((ELECTION_TICKS - 1) * (1 - SAFE_DRIFT))


def _env(drift: float) -> dict[str, str]:
    return {"FAULTLAB_ELECTION_TICKS": str(ELECTION_TICKS), "FAULTLAB_MAX_CLOCK_DRIFT": str(drift)}


SCENARIO = Scenario(
    name="clock-skew",
    title="A leader with a slow clock outlives its lease",
    sources=(
        "Dropbox, Clock Skew when Syncing Password Payloads (2020)",
        "Corbett et al., Spanner: Google's Globally-Distributed Database, OSDI 2012 (TrueTime)",
        "Ongaro, Consensus: Bridging Theory and Practice, §6.4.1 (leases and clock drift)",
    ),
    hypothesis=(
        "A leader serving LEASE reads trusts that its lease ends before any follower would "
        "vote for another leader, which holds only while its clock runs as fast as theirs. "
        f"Its clock slowed to x{LEADER_CLOCK_RATE:g} and cut off from its peers, it goes on "
        "answering from its own state while the majority elects a new leader and takes "
        f"writes. Unsafe (a lease of {LEASE_TICKS_UNSAFE} ticks, no allowance for drift): "
        "stale reads, found by the linearizability checker. Safe (the lease cut by a stated "
        f"maximum drift of {SAFE_DRIFT:.0%}, to {LEASE_TICKS_SAFE} ticks, for one pinned "
        "reader; ReadIndex for the other): the lease lapses before any follower may vote, "
        "the old leader's reads need a quorum it cannot reach, and the history is "
        "linearizable."
    ),
    workload=workloads.kv_register(
        clients=0, leader_readers=2, readers=1, writers=2, rate_per_client=25
    ),
    timeline=[
        faults.clock("leader", rate=LEADER_CLOCK_RATE, start=0.25, end=0.80),
        faults.isolate("leader", start=0.25, end=0.80),
    ],
    checkers=[checkers.linearizable()],
    unsafe=Mode(
        "unsafe",
        f"LEASE reads, a lease of E-1 = {LEASE_TICKS_UNSAFE} ticks (no drift allowed)",
        _env(0.0),
        True,
        kv_pb2.LEASE,
    ),
    safe=Mode(
        "safe",
        f"the lease cut for {SAFE_DRIFT:.0%} drift to {LEASE_TICKS_SAFE} ticks; one pinned "
        "reader on LEASE, the other on ReadIndex",
        _env(SAFE_DRIFT),
        False,
        kv_pb2.LEASE,
        settings={"leader_reads": ("lease", "linearizable")},
    ),
    doc="docs/experiments/clock-skew.md",
)

EXPERIMENT = SCENARIO.experiment()
