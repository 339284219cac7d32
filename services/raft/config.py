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
    # Lease reads: a ReadIndex read is answered from the leader's state with no quorum
    # round while the leader holds its lease (core.py, "leases"). Needs check_quorum.
    lease_reads: bool = False
    # How much slower than its followers' a leader's clock may run, as a fraction: the
    # lease is cut to (E - 1) * (1 - max_clock_drift) ticks. 0 trusts clocks to agree.
    max_clock_drift: float = 0.0
    # Quiescence: a leader whose followers hold its whole log, all of it applied, stops
    # ticking and heartbeating, and tells its followers to stop too, until a proposal, a
    # message or the node-level liveness of a peer wakes the group (core.py). Not with
    # lease reads: a quiet leader does not count the ticks a lease needs.
    quiesce: bool = False
    # Replication flow control, per follower. An append carries at most this many
    # entries and, past its first entry, at most `max_append_bytes` of entry data
    # (etcd's MaxSizePerMsg): a follower that missed a few large batches is sent them
    # over several appends, not one message the size of everything it missed.
    max_entries_per_append: int = 64
    max_append_bytes: int = 1024 * 1024
    max_inflight_appends: int = 256

    def __post_init__(self) -> None:
        assert self.node_id, "node_id must be set"
        assert self.election_ticks > self.heartbeat_ticks >= 1, "need election > heartbeat >= 1"
        assert self.max_entries_per_append >= 1 and self.max_inflight_appends >= 1
        assert self.max_append_bytes >= 1
        assert not self.lease_reads or self.check_quorum, "lease reads need check_quorum"
        assert not (self.quiesce and self.lease_reads), "a quiet leader keeps no lease"
        assert 0.0 <= self.max_clock_drift < 1.0, "max_clock_drift is a fraction in [0, 1)"

    @property
    def lease_ticks(self) -> int:
        """How many of its own ticks a leader's lease lasts after a quorum acknowledged a
        heartbeat. A follower that acknowledged it refuses votes until E of its ticks
        have passed since it heard it, the first of which may come at once: E - 1 full
        ticks, shortened by the drift the leader's clock may have against theirs."""
        return int((self.election_ticks - 1) * (1.0 - self.max_clock_drift))
