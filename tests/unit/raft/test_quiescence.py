"""Quiescence in the simulator: idle groups go quiet, wake on what needs them, and stay
safe; two wrong quiescences are caught by the swarm's checkers."""

from __future__ import annotations

import pytest

from services.raft import core
from services.raft.liveness import is_ping
from services.raft.messages import Message
from services.raft.role import Role
from services.raft.sim import swarm
from services.raft.sim.checker import SafetyViolation
from services.raft.sim.cluster import LivenessFailure, SimCluster, SimOptions

OPTIONS = SimOptions(quiesce=True)
E = OPTIONS.election_ticks


def quiet_cluster(seed: int) -> SimCluster:
    sim = SimCluster(seed, OPTIONS)
    sim.run_until(lambda: sim.stable_leader() is not None, 100, "a leader")
    sim.write("k", "v0")
    sim.run_until(lambda: all_quiet(sim), 50, "quiet")
    return sim


def all_quiet(sim: SimCluster) -> bool:
    return all(n.core is not None and n.core.quiesced for n in sim.live())


def raft_messages_in(sim: SimCluster, ticks: int) -> list[Message]:
    """The Raft messages (not liveness pings) sent during the next `ticks`."""
    sent: list[Message] = []
    send = sim.net.send

    def recording(msg: Message, now: int) -> None:
        if not is_ping(msg):
            sent.append(msg)
        send(msg, now)

    sim.net.send = recording  # type: ignore[method-assign]
    try:
        sim.run_ticks(ticks)
    finally:
        sim.net.send = send  # type: ignore[method-assign]
    return sent


@pytest.mark.parametrize("seed", range(5))
def test_an_idle_group_goes_quiet_and_sends_nothing(seed: int) -> None:
    sim = quiet_cluster(seed)
    assert raft_messages_in(sim, 10 * E) == []
    assert all_quiet(sim)


@pytest.mark.parametrize("seed", range(5))
def test_a_quiet_group_wakes_on_a_proposal_commits_it_and_goes_quiet_again(seed: int) -> None:
    sim = quiet_cluster(seed)
    sim.write("k", "v1")
    assert not all_quiet(sim)
    sim.run_until(sim.all_writes_applied, 20, "the write applied everywhere")
    sim.run_until(lambda: all_quiet(sim), 20, "quiet again")


@pytest.mark.parametrize("seed", range(20))
def test_a_leader_killed_while_quiet_is_replaced_within_the_election_bound(seed: int) -> None:
    """The followers' liveness timeout (E ticks) stands in for their election timer, so
    the first campaign starts within [E, 2E) ticks, as it would without quiescence, and
    a leader follows (a split vote costs another election timeout, as always)."""
    sim = quiet_cluster(seed)
    old = sim.leader()
    assert old is not None
    old_term = sim.core(old).term
    sim.crash(old)

    def campaigning() -> bool:
        return any(n.core is not None and n.core.role is not Role.FOLLOWER for n in sim.live())

    took = sim.run_until(campaigning, 2 * E, "a follower campaigning")
    assert took >= E  # no follower jumped the gun while the leader may still live
    sim.run_until(lambda: sim.stable_leader() is not None, 3 * E, "a new leader")
    assert sim.core(sim.stable_leader() or "").term > old_term
    sim.write("k", "v1")
    sim.run_until(sim.all_writes_applied, 20, "a write under the new leader")


@pytest.mark.parametrize("seed", range(10))
def test_a_quiet_leader_cut_off_steps_down_and_the_majority_goes_on(seed: int) -> None:
    sim = quiet_cluster(seed)
    old = sim.leader()
    assert old is not None
    sim.net.partition([old], [n for n in sim.nodes if n != old])
    sim.run_until(
        lambda: sim.core(old).role is not Role.LEADER, 3 * E, "the cut-off leader stepping down"
    )
    sim.run_until(lambda: sim.leader() not in (None, old), 2 * E + 3, "a new leader")
    sim.write("k", "v1")
    sim.net.heal()
    sim.run_until(sim.all_writes_applied, 4 * E, "the write everywhere, the old leader too")


@pytest.mark.parametrize("seed", range(10))
def test_a_follower_back_from_a_crash_is_caught_up_and_the_group_goes_quiet(seed: int) -> None:
    sim = quiet_cluster(seed)
    leader = sim.leader()
    follower = next(n for n in sim.nodes if n != leader)
    sim.crash(follower)
    sim.run_ticks(2 * E)  # the leader's liveness marks it down: quiet without it
    for i in range(3):
        sim.write("k", f"v{i}")
    sim.run_until(lambda: all_quiet(sim), 3 * E, "quiet without the crashed follower")
    sim.restart(follower)
    sim.run_until(sim.all_writes_applied, 4 * E, "the follower caught up")
    sim.run_until(lambda: all_quiet(sim), 3 * E, "quiet with all three")


def test_without_the_liveness_wake_a_dead_quiet_leader_is_never_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mutant: followers go quiet but nothing wakes them when their leader dies."""
    monkeypatch.setattr(core.RaftCore, "on_peer_down", lambda self, peer: None)
    sim = quiet_cluster(0)
    old = sim.leader()
    assert old is not None
    sim.crash(old)
    with pytest.raises(LivenessFailure):
        sim.run_until(lambda: sim.stable_leader() is not None, 10 * E, "a new leader")


def test_the_swarm_catches_a_leader_that_quiets_followers_still_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mutant: a leader goes quiet whatever its followers hold; a follower left
    behind gets its entries only if something else wakes the group."""
    monkeypatch.setattr(core.RaftCore, "_holds_all", lambda self, peer, last: True)
    with pytest.raises(LivenessFailure):
        for seed in range(0, 100):
            swarm.run_seed(seed)


def test_the_swarm_catches_a_quiesce_heartbeat_that_commits_past_a_followers_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mutant: as the one above, and its last heartbeat carries its own commit index
    rather than what each follower is known to hold (etcd's min(match, commit)): a
    follower with a stale tail from an older term commits an entry no leader chose."""

    def quiesce(self: core.RaftCore) -> None:
        self.quiesced = True
        for v in sorted(self.voters - {self.id}):
            self._send(core.MT.HEARTBEAT, v, commit=self.log.commit, context=core.QUIESCE_CONTEXT)

    monkeypatch.setattr(core.RaftCore, "_holds_all", lambda self, peer, last: True)
    monkeypatch.setattr(core.RaftCore, "_quiesce", quiesce)
    with pytest.raises(SafetyViolation):
        for seed in range(0, 100):
            swarm.run_seed(seed)
