"""Swarm testing: each seed draws its own fault mix, then runs chaos followed by calm.

Chaos: clients write and read through whoever leads, while the network drops, delays,
duplicates and reorders, partitions come and go (symmetric and one-way), and nodes crash
and restart. Calm: faults stop, crashed nodes restart; a leader must emerge within
`LEADER_BOUND_TICKS` and every write ever invoked must be applied everywhere within
`COMMIT_BOUND_TICKS`. Safety is checked after every step throughout.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from services.raft.sim.cluster import SimCluster, SimOptions

CHAOS_TICKS = 150
LEADER_BOUND_TICKS = 100
COMMIT_BOUND_TICKS = 200
RETRY_AFTER_TICKS = 15


@dataclass(frozen=True)
class Swarm:
    """The fault mix one seed draws."""

    options: SimOptions
    drop_rate: float
    duplicate_rate: float
    max_delay: int
    partition_chance: float
    crash_chance: float
    crash_before_persist_chance: float
    write_chance: float
    read_chance: float
    follower_read_share: float

    @classmethod
    def draw(cls, rng: random.Random) -> Swarm:
        options = SimOptions(
            nodes=rng.choice([3, 3, 5]),
            pre_vote=rng.random() < 0.7,
            check_quorum=rng.random() < 0.7,
            compact_every=rng.choice([0, 0, 4, 16]),
            max_inflight_appends=rng.choice([1, 4, 64]),
            max_entries_per_append=rng.choice([1, 8, 64]),
            quiesce=rng.random() < 0.5,
            # The simulator's commands are about 15 bytes: 16 sends one entry per
            # append, 64 a few, 1 MiB as many as max_entries_per_append allows.
            max_append_bytes=rng.choice([16, 64, 1024 * 1024]),
        )
        return cls(
            options=options,
            drop_rate=rng.choice([0.0, 0.01, 0.05, 0.2]),
            duplicate_rate=rng.choice([0.0, 0.02, 0.1]),
            max_delay=rng.choice([1, 3, 10, 25]),
            partition_chance=rng.choice([0.0, 0.02, 0.08]),
            crash_chance=rng.choice([0.0, 0.01, 0.04]),
            crash_before_persist_chance=rng.choice([0.0, 0.0, 0.01, 0.05]),
            write_chance=rng.choice([0.3, 0.8]),
            read_chance=rng.choice([0.1, 0.5]),
            follower_read_share=rng.choice([0.0, 0.5, 1.0]),
        )


@dataclass(frozen=True)
class SwarmResult:
    seed: int
    swarm: Swarm
    writes: int
    reads_served: int
    ticks_to_leader: int
    ticks_to_commit_all: int
    max_term: int


def run_seed(seed: int) -> SwarmResult:
    rng = random.Random(seed)
    swarm = Swarm.draw(rng)
    sim = SimCluster(seed, swarm.options)
    f = sim.net.faults
    f.drop_rate, f.duplicate_rate, f.max_delay = (
        swarm.drop_rate,
        swarm.duplicate_rate,
        swarm.max_delay,
    )
    sim.crash_before_persist_chance = swarm.crash_before_persist_chance
    ids = list(sim.nodes)

    def chaos_tick() -> None:
        if rng.random() < swarm.partition_chance:
            _random_partition(sim, rng, ids)
        if rng.random() < swarm.crash_chance:
            victim = rng.choice(ids)
            sim.crash(victim) if sim.nodes[victim].alive else sim.restart(victim)
        if rng.random() < swarm.write_chance:
            sim.write(f"k{rng.randrange(3)}", str(rng.randrange(1000)))
        if rng.random() < swarm.read_chance:  # through the leader, or forwarded by any node
            sim.read(rng.choice(ids) if rng.random() < swarm.follower_read_share else None)
        sim.retry_writes(RETRY_AFTER_TICKS)

    sim.run_ticks(CHAOS_TICKS, chaos_tick)

    # Calm: no more faults. Liveness must follow.
    sim.net.heal()
    sim.crash_before_persist_chance = 0.0
    f.drop_rate = f.duplicate_rate = 0.0
    f.max_delay = 1
    for node_id in ids:
        if not sim.nodes[node_id].alive:
            sim.restart(node_id)
    to_leader = sim.run_until(lambda: sim.stable_leader() is not None, LEADER_BOUND_TICKS, "leader")

    def committed_all() -> bool:
        if sim.now % sim.options.micro_per_tick == 0:
            sim.retry_writes(RETRY_AFTER_TICKS)
        return sim.all_writes_applied()

    to_commit = sim.run_until(committed_all, COMMIT_BOUND_TICKS, "commit of every write")
    return SwarmResult(
        seed=seed,
        swarm=swarm,
        writes=len(sim.writes),
        reads_served=sim.reads_served,
        ticks_to_leader=to_leader,
        ticks_to_commit_all=to_commit,
        max_term=max(n.core.term for n in sim.live() if n.core),
    )


def _random_partition(sim: SimCluster, rng: random.Random, ids: list[str]) -> None:
    sim.net.heal()
    roll = rng.random()
    if roll < 0.2:
        return  # the heal alone
    shuffled = rng.sample(ids, len(ids))
    cut = rng.randrange(1, len(ids))
    if roll < 0.8:
        sim.net.partition(shuffled[:cut], shuffled[cut:])
    else:
        sim.net.cut_one_way(shuffled[:cut], shuffled[cut:])
