"""lock-clock-skew: the lock service's leader has a fast clock, and a live holder's
session expires early.

lock-gc-pause's stage (chaos/experiments/lock_gc_pause.py) with a clock fault instead of
a pause: the holder is a process of its own that keeps its session alive, every third of
its TTL, by its own correct clock. Once it holds the lock and has read the protected set,
the clock of the lock group's leader starts running RATE times too fast
(libfaketime, cluster/clocks.py). Session deadlines are judged by the leader's clock
(services/replicated/leader_clock.py), so the holder's TTL now passes in a RATE-th of the
time, less than its keep-alive period: the service expires the session of a client that
did everything right, and the lock passes to a contender, which adds to the set. Then the
clock runs at real speed again and the holder, which never noticed, writes back the set it
read. The contenders' sessions are long enough (CONTENDER_TTL_S) to outlive the fast clock.

Unsafe (unfenced writes): the holder's late write erases the contender's acknowledged
add. Safe (fenced writes): the store refuses it; both clients still believed they held
the lock for a while, which the report lists.
"""

from __future__ import annotations

from chaos.experiments import lock_gc_pause
from chaos.experiments.base import Experiment, Mode
from chaos.experiments.lock_gc_pause import GcPauseSpec, HolderFault
from chaos.lock_holder import HolderProcess
from chaos.nemesis import Fault
from cluster import admin_client
from cluster.backend import Cluster
from cluster.clocks import NodeClock, clocks_folder
from services.runtime.topology import Group, Topology

RATE = 5.0
HOLDER_TTL_MS = 1000  # kept alive every 333 ms; at x5 it lasts 200 ms
CONTENDER_TTL_S = 30.0  # 6 s at x5: long past the fast clock's few seconds
FAST_CLOCK = "fast-lock-leader-clock"


def fast_leader_clock(cluster: Cluster) -> HolderFault:
    """The lock leader's clock at RATE from the cut until the holder is let go."""
    lock_nodes = [n.id for n in cluster.topology.group_nodes("lock")]
    folder = clocks_folder(cluster.run_dir)
    skewed: list[NodeClock] = []

    def cut(holder: HolderProcess) -> str:
        leader = admin_client.leader_of(cluster.topology, lock_nodes, "lock")
        if leader is None:
            raise RuntimeError("no lock leader to skew the clock of")
        skewed.append(NodeClock(folder, leader))
        skewed[-1].skew(rate=RATE)
        return f"the clock of {leader} (the lock leader) runs x{RATE:g}"

    def release(holder: HolderProcess) -> str:
        for clock in skewed:
            clock.skew(rate=1.0)  # real speed; the time it gained stays gained
        holder.go()
        return "the lock leader's clock at real speed; the holder writes what it read"

    return HolderFault(FAST_CLOCK, cut, release)


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[GcPauseSpec, list[Fault]]:
    cluster.wait_for_leader(group="lock", timeout_s=20.0)
    spec = GcPauseSpec(
        cluster.topology_path,
        bool(mode.settings.get("fenced")),
        holder_ttl_ms=HOLDER_TTL_MS,
        contender_ttl_s=CONTENDER_TTL_S,
        fault=fast_leader_clock(cluster),
    )
    return spec, []  # the fault is the workload's own step, recorded as a nemesis event


EXPERIMENT = Experiment(
    name="lock-clock-skew",
    title="A lock leader with a fast clock expires a live holder's session",
    sources=(
        "Kleppmann, How to do distributed locking (2016): timing assumptions",
        "Burrows, The Chubby lock service (OSDI 2006), §2.8: clocks and lease timeouts",
        "Dropbox, Clock Skew when Syncing Password Payloads (2020)",
    ),
    hypothesis=(
        "A lock lease is judged by the lock service's clock, the holder keeps it alive by "
        f"its own. With the service leader's clock running x{RATE:g}, a holder's "
        f"{HOLDER_TTL_MS} ms TTL passes between two of its keep-alives: its session "
        "expires, the lock passes on, and the holder, unaware, writes late. Unsafe "
        "(unfenced writes): an acknowledged update is lost. Safe (fencing tokens): the "
        "late write is refused and nothing is lost."
    ),
    unsafe=lock_gc_pause.EXPERIMENT.unsafe,  # the same modes: fenced writes or not
    safe=lock_gc_pause.EXPERIMENT.safe,
    plan=plan,
    judge=lock_gc_pause.judge,
    mesh_gaps=(
        "the lock leader's clock runs fast (libfaketime), set by the workload once it knows "
        "the leader; TimeChaos shifts a clock by an offset and cannot make one run fast",
    ),
    doc="docs/experiments/lock-clock-skew.md",
    topology=Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("lock", 3))),
    workload=lock_gc_pause.workload,
    fake_clocks=True,
)
