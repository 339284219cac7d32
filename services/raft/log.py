"""The Raft log as the core sees it: a snapshot prefix, the entries after it, and the
split between what storage has made durable (stable) and what it has not yet."""

from __future__ import annotations

from services.raft.errors import Compacted
from services.raft.messages import Entry, Snapshot


class RaftLog:
    def __init__(self, snapshot: Snapshot | None, entries: tuple[Entry, ...], commit: int) -> None:
        self.snapshot = snapshot  # the latest snapshot, sent to followers that fell behind it
        self.snap_index = snapshot.index if snapshot else 0
        self.snap_term = snapshot.term if snapshot else 0
        self.entries: list[Entry] = list(entries)
        assert all(e.index == self.snap_index + 1 + i for i, e in enumerate(self.entries))
        self.stable_index = self.last_index  # what storage handed us is durable
        self.commit = max(commit, self.snap_index)
        assert self.commit <= self.last_index, "commit index past the end of the log"
        self.applied = self.snap_index
        self.pending_snapshot: Snapshot | None = None  # received, not yet persisted

    # -- reading ------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return self.snap_index + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snap_term

    def term(self, index: int) -> int | None:
        """The term of the entry at `index`; None past the end; Compacted before the snapshot."""
        if index == self.snap_index:
            return self.snap_term
        if index < self.snap_index:
            raise Compacted(f"index {index} is compacted (snapshot at {self.snap_index})")
        if index > self.last_index:
            return None
        return self.entries[index - self.snap_index - 1].term

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except Compacted:
            return False

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries with lo <= index < hi."""
        if lo <= self.snap_index:
            raise Compacted(f"index {lo} is compacted (snapshot at {self.snap_index})")
        assert hi <= self.last_index + 1, f"slice to {hi} past the end {self.last_index}"
        return self.entries[lo - self.snap_index - 1 : hi - self.snap_index - 1]

    def slice_bytes(self, lo: int, hi: int, max_bytes: int) -> list[Entry]:
        """Entries with lo <= index < hi, cut where their data would pass `max_bytes`
        (the first entry always, however large: else it could never be sent)."""
        entries = self.slice(lo, hi)
        size = 0
        for i, entry in enumerate(entries):
            size += len(entry.data)
            if size > max_bytes and i > 0:
                return entries[:i]
        return entries

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a candidate's log is at least as up to date as ours (Raft §5.4.1)."""
        return last_term > self.last_term or (
            last_term == self.last_term and last_index >= self.last_index
        )

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """The largest index <= `index` whose term is <= `term` (fast backtracking)."""
        index = min(index, self.last_index)
        while index > self.snap_index:
            t = self.term(index)
            if t is not None and t <= term:
                break
            index -= 1
        return index

    def unstable_entries(self) -> list[Entry]:
        return self.entries[self.stable_index - self.snap_index :]

    def entries_to_apply(self) -> list[Entry]:
        start = max(self.applied, self.pending_snapshot.index if self.pending_snapshot else 0)
        return self.slice(start + 1, self.commit + 1) if self.commit > start else []

    # -- writing ------------------------------------------------------------------------

    def maybe_append(
        self, index: int, log_term: int, commit: int, ents: tuple[Entry, ...]
    ) -> int | None:
        """A follower's append: None if our entry at `index` has another term, else the
        index of the last entry the leader sent, which now matches ours."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(ents)
        for i, e in enumerate(ents):
            if not self.match_term(e.index, e.term):
                assert e.index > self.commit, f"conflict at committed index {e.index}"
                self.append(list(ents[i:]))
                break
        self.commit_to(min(commit, last_new))
        return last_new

    def append(self, ents: list[Entry]) -> None:
        """Append, first dropping any of our entries from ents[0].index on."""
        if not ents:
            return
        first = ents[0].index
        assert self.snap_index < first <= self.last_index + 1, f"gap or overlap at {first}"
        del self.entries[first - self.snap_index - 1 :]
        self.entries.extend(ents)
        self.stable_index = min(self.stable_index, first - 1)

    def commit_to(self, index: int) -> None:
        if index > self.commit:
            assert index <= self.last_index, f"commit {index} past last index {self.last_index}"
            self.commit = index

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log by a snapshot received from the leader."""
        self.snapshot = self.pending_snapshot = snapshot
        self.snap_index, self.snap_term = snapshot.index, snapshot.term
        self.entries = []
        self.stable_index = self.commit = snapshot.index

    def compact(self, snapshot: Snapshot) -> None:
        """Fold entries up to snapshot.index into `snapshot` (taken by the application)."""
        assert snapshot.index <= self.applied, "cannot compact past what was applied"
        if snapshot.index <= self.snap_index:
            return
        del self.entries[: snapshot.index - self.snap_index]
        self.snapshot = snapshot
        self.snap_index, self.snap_term = snapshot.index, snapshot.term

    def stable_to(self, index: int, term: int) -> None:
        if self.match_term(index, term) and index > self.stable_index:
            self.stable_index = index
