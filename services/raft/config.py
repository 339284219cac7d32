"""The Raft core's settings. Time is counted in ticks; the driver decides a tick's length."""

from __future__ import annotations

from dataclasses import dataclass

from services.raft.messages import NodeId


@dataclass(frozen=True)
class RaftConfig:
    node_id: NodeId
    # Voters at bootstrap; a restart takes its membership from the log instead.
    voters: tuple[NodeId, ...]
    # A follower that hears no leader for a random time in [E, 2E) ticks campaigns.
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    # PreVote: a node asks whether it could win before raising its term (thesis §9.6).
    pre_vote: bool = True
    # CheckQuorum: a leader that hears no quorum for E ticks steps down, and followers
    # that heard a leader in the last E ticks ignore vote requests.
    check_quorum: bool = True
    # Lease reads: answer reads from the leader's state with no quorum round. Safe only
    # with check_quorum and clocks whose drift stays well within an election timeout.
    lease_reads: bool = False
    # Quiescence: a leader whose followers hold its whole log, all of it applied, stops
    # ticking and heartbeating, and tells its followers to stop too, until a proposal, a
    # message or the node-level liveness of a peer wakes the group (core.py). Not with
    # lease reads: a quiet leader does not count the ticks a lease needs.
    quiesce: bool = False
    # Replication flow control, per follower.
    max_entries_per_append: int = 64
    max_inflight_appends: int = 256

    def __post_init__(self) -> None:
        assert self.node_id, "node_id must be set"
        assert self.election_ticks > self.heartbeat_ticks >= 1, "need election > heartbeat >= 1"
        assert self.max_entries_per_append >= 1 and self.max_inflight_appends >= 1
        assert not self.lease_reads or self.check_quorum, "lease reads need check_quorum"
        assert not (self.quiesce and self.lease_reads), "a quiet leader keeps no lease"
