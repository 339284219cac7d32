"""The expected failures of the Raft core, each raised to the caller of one method.

    RaftError
    ├── NotLeader           propose / read_index / transfer on a node that is not leader
    ├── ProposalDropped     the leader cannot take it now (transferring leadership,
    │                       a membership change still pending, not committed in its term)
    ├── Compacted           entries asked for were folded into a snapshot
    └── NodeStopped         the node stopped while a proposal was in flight: it may
                            still be committed by the others (an indefinite outcome)

Broken invariants are `AssertionError`s: they mean a bug, not a situation to handle.
"""

from __future__ import annotations

from services.raft.messages import NONE, NodeId


class RaftError(Exception):
    """Base of the expected failures."""


class NotLeader(RaftError):
    """Only the leader takes proposals and reads; `leader_hint` is who may be ("" if none)."""

    def __init__(self, node_id: NodeId, leader_hint: NodeId = NONE) -> None:
        self.leader_hint = leader_hint
        hint = f"; try {leader_hint}" if leader_hint else "; no leader known"
        super().__init__(f"{node_id} is not the leader{hint}")


class ProposalDropped(RaftError):
    """The leader refused the proposal for now; retrying later may succeed."""


class Compacted(RaftError):
    """The requested index is at or below the snapshot: those entries are gone."""


class NodeStopped(RaftError):
    """The node stopped before a proposal's outcome was known; it may still be applied."""
