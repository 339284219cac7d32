"""Leader leases: how long a lease lasts in ticks, when it is renewed, and the property
it exists for. Three cores on a hand-driven network whose nodes tick at their own rates
(a slow clock is a node whose ticks come slower): the cut-off leader must never hold its
lease while another leader exists, unless its clock is slower than the drift allowed."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from services.raft.config import RaftConfig
from services.raft.core import RaftCore
from services.raft.messages import MessageType
from services.raft.role import Role

MT = MessageType
VOTERS = ("n1", "n2", "n3")
E = 10


class Net:
    """Three cores; messages are delivered at once between nodes that are not cut."""

    def __init__(self, seed: int, **cfg: object) -> None:
        self.cores = {
            v: RaftCore(
                RaftConfig(node_id=v, voters=VOTERS, election_ticks=E, **cfg),  # type: ignore[arg-type]
                random.Random(seed * 7 + i),
            )
            for i, v in enumerate(VOTERS)
        }
        self.cut: set[str] = set()

    def deliver(self) -> None:
        moved = True
        while moved:
            moved = False
            for core in self.cores.values():
                while core.has_ready():
                    rd = core.ready()
                    core.advance(rd)
                    for m in rd.messages:
                        moved = True
                        if m.src not in self.cut and m.dst not in self.cut:
                            self.cores[m.dst].step(m)

    def tick(self, node: str) -> None:
        self.cores[node].tick()
        self.deliver()

    def elect(self, node: str) -> None:
        """Tick `node` alone until it leads, then let everyone settle."""
        for _ in range(10 * E):
            if self.cores[node].role is Role.LEADER:
                break
            self.tick(node)
        assert self.cores[node].role is Role.LEADER
        for _ in range(2):  # its no-op commits; a lease round is acknowledged
            for v in VOTERS:
                self.tick(v)

    def serving_leaders(self) -> list[str]:
        """Leaders of their term whose state is current: they may answer reads."""
        return [
            v
            for v, c in self.cores.items()
            if c.role is Role.LEADER and c.log.term(c.log.commit) == c.term
        ]


def test_a_lease_lasts_its_ticks_after_the_last_acknowledged_round() -> None:
    net = Net(seed=1)
    net.elect("n1")
    leader = net.cores["n1"]
    assert leader.holds_lease()
    net.cut = {"n1"}
    held = 0
    while leader.holds_lease():
        net.tick("n1")
        held += 1
    # The last round acknowledged went out at the leader's latest tick, before the cut.
    assert held == leader.cfg.lease_ticks == E - 1


def test_drift_shortens_the_lease() -> None:
    assert RaftConfig(node_id="n1", voters=VOTERS, election_ticks=20).lease_ticks == 19
    cfg = RaftConfig(node_id="n1", voters=VOTERS, election_ticks=20, max_clock_drift=0.5)
    assert cfg.lease_ticks == 9
    with pytest.raises(AssertionError):
        RaftConfig(node_id="n1", voters=VOTERS, max_clock_drift=1.0)


def test_no_lease_without_check_quorum_or_before_the_terms_first_commit() -> None:
    net = Net(seed=2, check_quorum=False, pre_vote=False)
    net.elect("n1")
    assert not net.cores["n1"].holds_lease()
    net = Net(seed=2)
    net.cut = {"n2", "n3"}
    for _ in range(10 * E):
        net.tick("n1")
    assert not net.cores["n1"].holds_lease()  # never a leader, never a lease


def test_a_lease_read_needs_no_round_and_a_lapsed_lease_asks_the_quorum() -> None:
    net = Net(seed=3, lease_reads=True)
    net.elect("n1")
    leader = net.cores["n1"]
    leader.read_index(b"r1")
    rd = leader.ready()
    assert [rs.context for rs in rd.read_states] == [b"r1"] and not rd.messages
    leader.advance(rd)
    net.cut = {"n1"}
    while leader.holds_lease():
        net.tick("n1")
    leader.read_index(b"r2")
    rd = leader.ready()
    assert not rd.read_states  # it must confirm with a quorum first
    assert {(m.type, m.context) for m in rd.messages} == {(MT.HEARTBEAT, b"r2")}


def _overlap(seed: int, leader_rate: Fraction, drift: float) -> bool:
    """Cut the leader from both followers and run on: does the old leader still hold
    its lease at a moment when another leader could serve reads? The followers tick at
    rate 1, the old leader at `leader_rate`, on a grid of 1/20 of a tick."""
    net = Net(seed, max_clock_drift=drift)
    net.elect("n1")
    old = net.cores["n1"]
    net.cut = {"n1"}
    clocks = {v: Fraction(0) for v in VOTERS}
    rates = {"n1": leader_rate, "n2": Fraction(1), "n3": Fraction(1)}
    step = Fraction(1, 20)
    for _ in range(20 * 6 * E):
        for v in VOTERS:
            before = clocks[v]
            clocks[v] += rates[v] * step
            if int(clocks[v]) > int(before):
                net.tick(v)
        if old.holds_lease() and set(net.serving_leaders()) - {"n1"}:
            return True
    return False


@pytest.mark.parametrize("seed", range(40))
def test_equal_clocks_never_let_a_lease_outlive_the_next_election(seed: int) -> None:
    assert not _overlap(seed, Fraction(1), drift=0.0)


@pytest.mark.parametrize("seed", range(40))
def test_a_slow_leader_clock_outlives_its_lease_unless_the_drift_bound_covers_it(
    seed: int,
) -> None:
    """At a quarter speed the old leader's lease of E - 1 ticks lasts 36 follower ticks:
    long past the next election (at most 2E + a few ticks). A drift bound of 0.75 cuts
    it to 2 ticks, 8 follower ticks: over before any follower may vote."""
    assert _overlap(seed, Fraction(1, 4), drift=0.0)
    assert not _overlap(seed, Fraction(1, 4), drift=0.75)
