"""Named scenarios: the situations users hit, each a sentence of the Raft paper or thesis."""

from __future__ import annotations

import pytest

from services.raft.errors import NotLeader
from services.raft.messages import ConfChangeKind
from services.raft.role import Role
from services.raft.sim.cluster import SimOptions
from tests.unit.raft.helpers import elected, write_and_commit


@pytest.mark.parametrize("seed", range(5))
def test_prevote_keeps_a_rejoining_node_from_raising_the_term(seed: int) -> None:
    """Thesis §9.6: a node back from a partition must not disrupt a healthy majority."""
    sim, leader = elected(SimOptions(pre_vote=True, check_quorum=True), seed)
    follower = next(n for n in sim.nodes if n != leader)
    others = [n for n in sim.nodes if n != follower]
    term = sim.core(leader).term

    sim.net.partition([follower], others)
    sim.run_ticks(100)  # ten election timeouts: it tries, and fails, again and again
    assert sim.core(follower).term == term, "PreVote: an isolated node does not raise its term"
    sim.net.heal()
    sim.run_ticks(50)

    assert sim.stable_leader() == leader
    assert sim.core(leader).term == term


def test_without_prevote_a_rejoining_node_deposes_the_leader() -> None:
    """The unsafe configuration, for contrast: the term jumps and the leader is deposed."""
    sim, leader = elected(SimOptions(pre_vote=False, check_quorum=False))
    follower = next(n for n in sim.nodes if n != leader)
    term = sim.core(leader).term
    sim.net.partition([follower], [n for n in sim.nodes if n != follower])
    sim.run_ticks(100)
    assert sim.core(follower).term > term + 2
    sim.net.heal()
    sim.run_until(lambda: sim.stable_leader() is not None, 100, "a leader after rejoin")
    new_leader = sim.stable_leader()
    assert new_leader is not None and sim.core(new_leader).term > term


@pytest.mark.parametrize("seed", range(5))
def test_check_quorum_steps_an_isolated_leader_down(seed: int) -> None:
    """A leader that cannot hear a quorum steps down within an election timeout."""
    options = SimOptions(check_quorum=True)
    sim, leader = elected(options, seed)
    sim.net.partition([leader], [n for n in sim.nodes if n != leader])
    took = sim.run_until(
        lambda: sim.core(leader).role is not Role.LEADER, 2 * options.election_ticks, "step down"
    )
    assert took <= 2 * options.election_ticks
    with pytest.raises(NotLeader):
        sim.core(leader).read_index(b"late")
    sim.run_until(lambda: sim.leader() not in (None, leader), 100, "a new leader")


def test_read_index_at_a_deposed_leader_never_completes() -> None:
    """§6.4: a ReadIndex read needs a quorum to confirm leadership; a cut-off leader has none."""
    sim, leader = elected(SimOptions(check_quorum=False))
    write_and_commit(sim, 3)
    sim.net.partition([leader], [n for n in sim.nodes if n != leader])
    assert sim.read(via=leader)  # accepted: it still believes it leads
    served = sim.reads_served
    sim.run_until(lambda: sim.leader() not in (None, leader), 100, "a new leader")
    write_and_commit(sim, 3)
    assert sim.reads_served == served, "the old leader answered a read without a quorum"


def test_a_follower_behind_compaction_catches_up_by_snapshot() -> None:
    sim, leader = elected(SimOptions(compact_every=5))
    laggard = next(n for n in sim.nodes if n != leader)
    sim.net.partition([laggard], [n for n in sim.nodes if n != laggard])
    write_and_commit(sim, 40)
    assert sim.core(leader).log.snap_index > sim.core(laggard).log.last_index, "not compacted"

    sim.net.heal()
    sim.run_until(
        lambda: sim.nodes[laggard].sm.values == sim.nodes[leader].sm.values, 100, "catch-up"
    )
    snapshot = sim.nodes[laggard].storage.snapshot
    assert snapshot is not None and snapshot.index > 0, "caught up without a snapshot?"
    assert sim.nodes[laggard].sm.values["k"] == "39"


@pytest.mark.parametrize("seed", range(3))
def test_leadership_transfer_keeps_every_committed_entry(seed: int) -> None:
    sim, leader = elected(SimOptions(), seed)
    write_and_commit(sim, 10)
    target = next(n for n in sim.nodes if n != leader)
    sim.core(leader).transfer_leadership(target)
    sim.run_until(lambda: sim.stable_leader() == target, 30, "transfer")
    write_and_commit(sim, 5, key="after")
    sim.run_until(sim.all_writes_applied, 50, "every node to apply")
    for node in sim.nodes.values():
        assert node.sm.values["k"] == "9" and node.sm.values["after"] == "4"


def test_add_then_remove_a_voter_under_load() -> None:
    """Single-server changes (thesis §4.1) while clients keep writing."""
    sim, _ = elected(SimOptions())
    write_and_commit(sim, 1)  # a new leader takes no membership change before its no-op commits
    sim.add_node("n4")  # joins with no configuration: learns it from the log
    assert sim.change_membership(ConfChangeKind.ADD_VOTER, "n4")

    def load() -> None:
        sim.write("k", str(sim.ticks))
        sim.retry_writes(15)

    sim.run_ticks(30, load)
    assert all(sim.core(n).voters == {"n1", "n2", "n3", "n4"} for n in sim.nodes)

    victim = next(n for n in ("n1", "n2", "n3") if n != sim.stable_leader())
    assert sim.change_membership(ConfChangeKind.REMOVE_VOTER, victim)
    sim.run_ticks(30, load)
    sim.crash(victim)  # a removed node can go away without hurting the quorum
    sim.run_until(sim.all_writes_applied, 200, "every write applied")
    remaining = {"n1", "n2", "n3", "n4"} - {victim}
    assert all(sim.core(n).voters == remaining for n in remaining)


def test_removing_the_leader_hands_over_to_the_rest() -> None:
    sim, leader = elected(SimOptions())
    write_and_commit(sim, 3)
    assert sim.change_membership(ConfChangeKind.REMOVE_VOTER, leader)
    sim.run_until(lambda: sim.stable_leader() not in (None, leader), 100, "new leader")
    write_and_commit(sim, 3, key="after")
