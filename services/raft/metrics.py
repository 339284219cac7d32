"""Prometheus metrics of a Raft node, labelled by group."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

TERM = Gauge("faultlab_raft_term", "Current term", ["group"])
IS_LEADER = Gauge("faultlab_raft_is_leader", "1 when this node leads the group", ["group"])
COMMIT_INDEX = Gauge("faultlab_raft_commit_index", "Highest index known committed", ["group"])
APPLIED_INDEX = Gauge("faultlab_raft_applied_index", "Highest index applied", ["group"])
PROPOSAL_SECONDS = Histogram(
    "faultlab_raft_proposal_seconds",
    "From propose to applied, on the leader",
    ["group"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PERSIST_SECONDS = Histogram(
    "faultlab_raft_persist_seconds",
    "Persisting one Ready, fsync included",
    ["group"],
    buckets=(0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
)
READ_ROUNDS = Counter(
    "faultlab_raft_read_rounds_total",
    "Batches of reads started on this node, by how they were confirmed: lease (the "
    "leader's lease, no round), quorum (a heartbeat round) or forwarded (asked of the leader)",
    ["group", "confirmed_by"],
)

_BY_GROUP = (TERM, IS_LEADER, COMMIT_INDEX, APPLIED_INDEX, PROPOSAL_SECONDS, PERSIST_SECONDS)


class GroupMetrics:
    """One group's series, looked up once: `labels()` hashes and locks on every call,
    and a busy node with 64 groups made that call several times per Ready."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.term = TERM.labels(group)
        self.is_leader = IS_LEADER.labels(group)
        self.commit_index = COMMIT_INDEX.labels(group)
        self.applied_index = APPLIED_INDEX.labels(group)
        self.proposal_seconds = PROPOSAL_SECONDS.labels(group)
        self.persist_seconds = PERSIST_SECONDS.labels(group)

    def forget(self) -> None:
        """Drop the group's series: a group this node no longer hosts must not go on
        saying, for instance, that this node leads it."""
        for family in _BY_GROUP:
            _remove(family, self.group)
        for confirmed_by in ("lease", "quorum", "forwarded"):
            _remove(READ_ROUNDS, self.group, confirmed_by)


def _remove(family: Gauge | Histogram | Counter, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # never set on this node
        family.remove(*labels)
