"""Shortcuts for scenario tests on the simulator."""

from __future__ import annotations

from services.raft.sim.cluster import SimCluster, SimOptions


def elected(options: SimOptions | None = None, seed: int = 1) -> tuple[SimCluster, str]:
    sim = SimCluster(seed, options or SimOptions())
    sim.run_until(lambda: sim.stable_leader() is not None, 100, "first leader")
    leader = sim.stable_leader()
    assert leader is not None
    return sim, leader


def write_and_commit(sim: SimCluster, count: int, key: str = "k") -> None:
    for i in range(count):
        sim.write(key, str(i))
    sim.run_until(lambda: all(w.acked for w in sim.writes.values()), 200, "writes acked")
