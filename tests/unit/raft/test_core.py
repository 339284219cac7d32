"""The core driven by hand: rules that a random swarm may take long to stumble on."""

from __future__ import annotations

import random

import pytest

from services.raft.config import RaftConfig
from services.raft.core import RaftCore, Restored
from services.raft.errors import NotLeader, ProposalDropped
from services.raft.messages import (
    ConfChange,
    ConfChangeKind,
    Entry,
    HardState,
    Message,
    MessageType,
    Snapshot,
)
from services.raft.role import Role

MT = MessageType
VOTERS = ("n1", "n2", "n3")


def core(node_id: str = "n1", restored: Restored | None = None, **kw: object) -> RaftCore:
    cfg = RaftConfig(node_id=node_id, voters=VOTERS, pre_vote=False, **kw)  # type: ignore[arg-type]
    return RaftCore(cfg, random.Random(0), restored or Restored())


def drain(c: RaftCore) -> list[Message]:
    msgs: list[Message] = []
    while c.has_ready():
        rd = c.ready()
        msgs += rd.messages
        c.advance(rd)
    return msgs


def make_leader(c: RaftCore) -> None:
    drain(c)
    for _ in range(10 * c.cfg.election_ticks):
        if c.role is not Role.FOLLOWER:
            break
        c.tick()
    drain(c)
    c.step(Message(MT.VOTE_RESP, "n2", "n1", c.term))
    assert c.role is Role.LEADER
    drain(c)


def test_only_current_term_entries_commit_by_counting() -> None:
    """§5.4.2 / Figure 8: an entry from an earlier term on a majority is not committed
    until an entry of the leader's own term is."""
    snapshot = Snapshot(index=1, term=1, voters=VOTERS)
    old = Restored(HardState(term=2, commit=1), snapshot, entries=(Entry(2, 2),))
    c = core(restored=old)
    make_leader(c)  # term 3; its no-op is entry 3
    assert c.term == 3 and c.log.last_index == 3

    c.step(Message(MT.APPEND_RESP, "n2", "n1", 3, index=2))  # n2 holds entry 2 (term 2)
    assert c.log.commit == 1, "entry 2 counted to commitment from an earlier term"

    c.step(Message(MT.APPEND_RESP, "n2", "n1", 3, index=3))  # and now our no-op
    assert c.log.commit == 3


def test_hard_state_and_votes_travel_together() -> None:
    """A vote must be durable before the response that grants it leaves."""
    c = core("n2")
    drain(c)  # the bootstrap entries: term 1, three voters, committed
    c.step(Message(MT.VOTE, "n1", "n2", 2, index=3, log_term=1))
    rd = c.ready()
    assert rd.hard_state == HardState(term=2, vote="n1", commit=3)
    assert rd.must_sync
    assert [m.type for m in rd.messages] == [MT.VOTE_RESP] and not rd.messages[0].reject


def test_one_vote_per_term() -> None:
    c = core("n3")
    drain(c)
    c.step(Message(MT.VOTE, "n1", "n3", 2, index=3, log_term=1))
    c.step(Message(MT.VOTE, "n2", "n3", 2, index=3, log_term=1))
    replies = [m for m in drain(c) if m.type is MT.VOTE_RESP]
    assert [(m.dst, m.reject) for m in replies] == [("n1", False), ("n2", True)]


def test_no_vote_for_a_less_up_to_date_log() -> None:
    """§5.4.1: the voter's last entry has a higher term than the candidate's."""
    c = core("n3", Restored(HardState(term=2), Snapshot(1, 2, VOTERS)))
    c.step(Message(MT.VOTE, "n1", "n3", 3, index=5, log_term=1))
    assert [m.reject for m in drain(c) if m.type is MT.VOTE_RESP] == [True]


def test_followers_redirect_with_a_leader_hint() -> None:
    c = core("n2")
    with pytest.raises(NotLeader):
        c.read_index(b"r")  # no leader known: nowhere to forward it
    c.step(Message(MT.HEARTBEAT, "n1", "n2", 2))
    with pytest.raises(NotLeader) as e:
        c.propose(b"x")
    assert e.value.leader_hint == "n1"


def test_a_follower_read_is_served_at_the_leaders_confirmed_commit_index() -> None:
    """Thesis §6.4.1: the follower forwards, the leader confirms its leadership with a
    heartbeat round as for its own reads and answers with its commit index, and the
    follower learns that commit index (as from a heartbeat) with the answer."""
    follower = core("n2")
    follower.step(Message(MT.HEARTBEAT, "n1", "n2", 2))
    drain(follower)
    follower.read_index(b"n2-1")
    (forwarded,) = [m for m in drain(follower) if m.type is MT.READ_INDEX]
    assert (forwarded.dst, forwarded.context) == ("n1", b"n2-1")

    leader = core()
    make_leader(leader)
    leader.step(Message(MT.APPEND_RESP, "n2", "n1", leader.term, index=leader.log.last_index))
    drain(leader)  # the no-op is committed: reads may start
    leader.step(Message(MT.READ_INDEX, "n2", "n1", leader.term, context=b"n2-1"))
    heartbeats = [m for m in drain(leader) if m.type is MT.HEARTBEAT and m.context == b"n2-1"]
    assert heartbeats and not leader.ready().read_states  # not before a quorum confirms
    leader.step(Message(MT.HEARTBEAT_RESP, "n3", "n1", leader.term, context=b"n2-1"))
    (answer,) = [m for m in drain(leader) if m.type is MT.READ_INDEX_RESP]
    assert (answer.dst, answer.index, answer.context) == ("n2", leader.log.commit, b"n2-1")
    assert answer.commit == leader.log.commit  # n2 acknowledged everything


def test_one_membership_change_at_a_time() -> None:
    c = core()
    make_leader(c)
    c.step(Message(MT.APPEND_RESP, "n2", "n1", c.term, index=c.log.last_index))
    drain(c)
    c.propose_conf_change(ConfChange(ConfChangeKind.ADD_VOTER, "n4"))
    with pytest.raises(ProposalDropped, match="still being applied"):
        c.propose_conf_change(ConfChange(ConfChangeKind.ADD_VOTER, "n5"))


def test_membership_change_waits_for_a_commit_in_term() -> None:
    c = core()
    make_leader(c)
    with pytest.raises(ProposalDropped):
        c.propose_conf_change(ConfChange(ConfChangeKind.REMOVE_VOTER, "n3"))


def test_proposals_are_dropped_during_a_transfer() -> None:
    c = core()
    make_leader(c)
    c.transfer_leadership("n2")
    with pytest.raises(ProposalDropped, match="transferred to n2"):
        c.propose(b"x")
    with pytest.raises(ProposalDropped, match="not a voter"):
        c.transfer_leadership("n9")


def test_read_index_waits_for_the_first_commit_of_the_term() -> None:
    c = core()
    make_leader(c)
    c.read_index(b"r1")
    assert not c.ready().read_states
    c.step(Message(MT.APPEND_RESP, "n2", "n1", c.term, index=c.log.last_index))
    msgs = drain(c)
    heartbeat = next(m for m in msgs if m.type is MT.HEARTBEAT and m.context == b"r1")
    c.step(Message(MT.HEARTBEAT_RESP, heartbeat.dst, "n1", c.term, context=b"r1"))
    assert [rs.context for rs in c.ready().read_states] == [b"r1"]


def test_a_stale_leader_learns_the_new_term_from_its_followers() -> None:
    c = core("n2", check_quorum=True)
    c.step(Message(MT.HEARTBEAT, "n1", "n2", 5))
    drain(c)
    c.step(Message(MT.APPEND, "n3", "n2", 4))
    replies = drain(c)
    assert [(m.type, m.term, m.dst) for m in replies] == [(MT.APPEND_RESP, 5, "n3")]


def test_bad_config_is_refused() -> None:
    with pytest.raises(AssertionError):
        RaftConfig(node_id="n1", voters=VOTERS, election_ticks=1, heartbeat_ticks=1)
    with pytest.raises(AssertionError):
        RaftConfig(node_id="n1", voters=VOTERS, lease_reads=True, check_quorum=False)


def heartbeats_to(msgs: list[Message]) -> set[str]:
    return {m.dst for m in msgs if m.type is MT.HEARTBEAT}


@pytest.mark.parametrize("quiesce", [True, False])
def test_a_busy_leader_sends_a_ticks_heartbeat_only_where_no_append_went(quiesce: bool) -> None:
    """With quiescence, an append since the last heartbeat tick stands in for that tick's
    heartbeat (core.py, "busy groups"); a follower sent nothing (here n3, whose probe is
    unanswered) still gets one. Without, every tick heartbeats every follower, as etcd's
    raft does."""
    c = core(quiesce=quiesce, heartbeat_ticks=1)
    make_leader(c)
    c.tick()  # the no-op went to both since the last tick (none yet)
    assert heartbeats_to(drain(c)) == (set() if quiesce else {"n2", "n3"})
    c.step(Message(MT.APPEND_RESP, "n2", "n1", c.term, index=c.log.last_index))
    assert {m.dst for m in drain(c) if m.type is MT.APPEND} == {"n2"}  # the commit index
    c.tick()
    assert heartbeats_to(drain(c)) == ({"n3"} if quiesce else {"n2", "n3"})
    c.tick()  # nothing appended since the last tick: both
    assert heartbeats_to(drain(c)) == {"n2", "n3"}

    c.propose_batch([b"x"])
    assert {m.dst for m in drain(c) if m.type is MT.APPEND} == {"n2"}
    c.tick()
    assert heartbeats_to(drain(c)) == ({"n3"} if quiesce else {"n2", "n3"})


def appends_to(msgs: list[Message], dst: str) -> list[list[int]]:
    """The entry indexes of each append sent to `dst`, in order."""
    return [[e.index for e in m.entries] for m in msgs if m.type is MT.APPEND and m.dst == dst]


def test_an_append_carries_entries_up_to_its_byte_bound_and_the_rest_follow_at_once() -> None:
    """etcd's MaxSizePerMsg: a batch of large entries goes to a replicating follower in
    several appends, all sent at once (pipelined), none past the bound but for an entry
    larger than the bound on its own, which goes alone."""
    c = core(max_append_bytes=1000)
    make_leader(c)
    noop = c.log.last_index
    c.step(Message(MT.APPEND_RESP, "n2", "n1", c.term, index=noop))  # n2 replicates
    drain(c)
    first = c.log.last_index + 1
    c.propose_batch([b"a" * 600, b"b" * 300, b"c" * 2500, b"d" * 10, b"e" * 990])
    msgs = drain(c)
    assert appends_to(msgs, "n2") == [[first, first + 1], [first + 2], [first + 3, first + 4]]
    # n3 never answered: it is probed, one append at a time, cut at the same bound.
    assert appends_to(msgs, "n3") == []  # its probe of the no-op is still unanswered
    c.step(Message(MT.APPEND_RESP, "n3", "n1", c.term, index=noop))
    assert appends_to(drain(c), "n3") == [[first, first + 1], [first + 2], [first + 3, first + 4]]
