"""Raft's safety properties (Raft paper, Figure 3), checked as the simulation runs.

Each check is fed by the simulator at the moment the fact becomes true, so a violation is
reported at the step that caused it, not at the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.raft.core import RaftCore
from services.raft.messages import Entry, NodeId


class SafetyViolation(AssertionError):
    """A Raft safety property does not hold: a bug in the core."""


@dataclass
class SafetyChecker:
    leaders_by_term: dict[int, NodeId] = field(default_factory=dict)
    # (index, term) -> (data, kind, term of the entry before): by induction, equal
    # (index, term) with equal predecessors means equal logs up to there (Log Matching).
    entries: dict[tuple[int, int], tuple[bytes, int, int | None]] = field(default_factory=dict)
    applied: dict[int, Entry] = field(default_factory=dict)
    reads_checked: int = 0

    def on_leader(self, node: NodeId, term: int, core: RaftCore) -> None:
        """Election Safety, then Leader Completeness for the new leader."""
        other = self.leaders_by_term.setdefault(term, node)
        if other != node:
            raise SafetyViolation(f"election safety: {other} and {node} both lead term {term}")
        log = core.log
        for index, entry in self.applied.items():
            if index <= log.snap_index:
                continue
            if log.term(index) != entry.term:
                raise SafetyViolation(
                    f"leader completeness: {node} leads term {term} without committed "
                    f"entry {index} (term {entry.term}); its term there: {log.term(index)}"
                )

    def on_persist(self, node: NodeId, entries: tuple[Entry, ...], prev_term: int | None) -> None:
        """Log Matching, for entries a node just made durable."""
        for e in entries:
            seen = self.entries.setdefault((e.index, e.term), (e.data, int(e.kind), prev_term))
            if seen != (e.data, int(e.kind), prev_term):
                raise SafetyViolation(
                    f"log matching: {node} stored entry {e.index} of term {e.term} as "
                    f"{(e.data, int(e.kind), prev_term)}, another node as {seen}"
                )
            prev_term = e.term

    def on_apply(self, node: NodeId, entry: Entry) -> None:
        """State Machine Safety: no two nodes apply different entries at one index."""
        seen = self.applied.setdefault(entry.index, entry)
        if (seen.term, seen.data, seen.kind) != (entry.term, entry.data, entry.kind):
            raise SafetyViolation(
                f"state machine safety: {node} applied {entry} at {entry.index}, another {seen}"
            )

    def on_read(self, node: NodeId, committed_at_invoke: int, served_at: int) -> None:
        """Linearizable reads: a read reflects every write committed before it began."""
        self.reads_checked += 1
        if served_at < committed_at_invoke:
            raise SafetyViolation(
                f"stale read on {node}: served at index {served_at}, but index "
                f"{committed_at_invoke} was committed before the read began"
            )
