"""The KV store's versions, kept as etcd's MVCC keeps them, so both front doors (faultlab.kv.v1
and etcd's v3 API) read and write one store.

- One store-wide revision. It starts at 1 (an empty store, as etcd's) and moves by one per
  write transaction that changes something; every key a transaction writes shares its
  revision as mod_revision. A delete of nothing does not move it.
- A key's version counts its writes since it was created; a delete ends the key's
  generation, and its next put starts again at version 1 with a new create_revision.
- Every version since the compact revision is kept: a read at a past revision sees the
  store as it was then. Compacting at C keeps, for each key, its newest version at or
  below C (unless that is a delete) and everything after it, so a read at C itself still
  answers; a read below C is refused (ErrCompacted), as is one above the current revision
  (ErrFutureRev).
- `changes` holds every change from the compact revision on, in revision order, with the
  version it replaced: a watch from a past revision replays it, as etcd's watchers read
  the backend's revision-keyed history (which after a compaction at C still holds every
  change made at C).

Keys are bytes and sort bytewise, as etcd's do.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from services.kv.results import Record

FIRST_REVISION = 1


class FutureRevision(Exception):
    """A read or compaction at a revision the store has not reached."""


class CompactedRevision(Exception):
    """A read or compaction at a revision whose versions were already compacted away."""


@dataclass(frozen=True)
class Change:
    """One key's change at `revision`: its new record, or None when it was deleted."""

    revision: int
    key: bytes
    record: Record | None
    prev: Record | None  # the version it replaced; None if the key did not exist

    @property
    def deleted(self) -> bool:
        return self.record is None


@dataclass(frozen=True)
class KeyRange:
    """etcd's [key, range_end): an empty end is the one key; b"\\0" is every key from `key`
    on (and with key b"\\0", every key)."""

    key: bytes
    end: bytes = b""

    def single(self) -> bool:
        return not self.end

    def __contains__(self, key: bytes) -> bool:
        if self.single():
            return key == self.key
        return key >= self.key and (self.end == b"\0" or key < self.end)

    @classmethod
    def prefix(cls, prefix: bytes) -> KeyRange:
        """Every key that starts with `prefix` (etcdctl's --prefix)."""
        if not prefix:
            return cls(b"\0", b"\0")
        return cls(prefix, prefix_end(prefix))


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with `prefix` (etcd's GetPrefixRangeEnd):
    the prefix with its last byte below 0xff incremented; b"\\0" if every byte is 0xff."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\0"
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class Store:
    def __init__(self) -> None:
        self.revision = FIRST_REVISION
        self.compacted = 0  # the compact revision: reads below it are refused
        self.current: dict[bytes, Record] = {}
        self.changes: deque[Change] = deque()
        self._keys: list[bytes] = []  # sorted: every key with a version kept
        self._versions: dict[bytes, list[tuple[int, Record | None]]] = {}

    # -- reads ----------------------------------------------------------------------------

    def get(self, key: bytes) -> Record | None:
        return self.current.get(key)

    def range(self, keys: KeyRange, revision: int = 0) -> Iterator[tuple[bytes, Record]]:
        """Each key in `keys` that exists at `revision` (0: now), in key order."""
        at = self.readable(revision)
        if keys.single():
            record = self._at(keys.key, at)
            if record is not None:
                yield keys.key, record
            return
        start = bisect.bisect_left(self._keys, keys.key)
        for key in self._keys[start:]:
            if keys.end != b"\0" and key >= keys.end:
                return
            record = self._at(key, at)
            if record is not None:
                yield key, record

    def readable(self, revision: int) -> int:
        """The revision a read at `revision` sees (0: the current one), or why it cannot."""
        if revision <= 0:
            return self.revision
        if revision > self.revision:
            raise FutureRevision(revision)
        if revision < self.compacted:
            raise CompactedRevision(revision)
        return revision

    def changes_after(self, revision: int) -> list[Change]:
        """Every change after `revision`; CompactedRevision if some were compacted away."""
        if revision + 1 < self.compacted:  # changes at the compact revision are kept
            raise CompactedRevision(revision + 1)
        # From the newest back: a write asks for its own few changes, and a deque's
        # middle (bisect) and skipping to it (islice) both cost the whole history.
        after = list(itertools.takewhile(lambda c: c.revision > revision, reversed(self.changes)))
        after.reverse()
        return after

    def _at(self, key: bytes, revision: int) -> Record | None:
        if revision == self.revision:
            return self.current.get(key)
        versions = self._versions.get(key)
        if not versions:
            return None
        i = bisect.bisect_right(versions, revision, key=lambda v: v[0])
        return versions[i - 1][1] if i else None

    # -- writes: a transaction's changes all carry `revision` -----------------------------

    def put(self, revision: int, key: bytes, value: bytes, lease: int = 0) -> Change:
        old = self.current.get(key)
        record = Record(
            value=value,
            version=old.version + 1 if old else 1,
            create_revision=old.create_revision if old else revision,
            mod_revision=revision,
            lease=lease,
        )
        self.current[key] = record
        return self._keep(Change(revision, key, record, old))

    def delete(self, revision: int, key: bytes) -> Change | None:
        old = self.current.pop(key, None)
        if old is None:
            return None
        return self._keep(Change(revision, key, None, old))

    def _keep(self, change: Change) -> Change:
        versions = self._versions.get(change.key)
        if versions is None:
            versions = self._versions[change.key] = []
            bisect.insort(self._keys, change.key)
        versions.append((change.revision, change.record))
        self.changes.append(change)
        return change

    # -- compaction -----------------------------------------------------------------------

    def compact(self, revision: int) -> None:
        """Forget every version no read at `revision` or later can see."""
        if revision > self.revision:
            raise FutureRevision(revision)
        if revision <= self.compacted:
            raise CompactedRevision(revision)
        self.compacted = revision
        while self.changes and self.changes[0].revision < revision:
            self.changes.popleft()
        emptied = False
        for versions in self._versions.values():
            i = bisect.bisect_right(versions, revision, key=lambda v: v[0])
            if i == 0:
                continue
            newest_kept = i - 1 if versions[i - 1][1] is not None else i
            if newest_kept:
                del versions[:newest_kept]
                emptied = emptied or not versions
        if emptied:
            self._versions = {k: v for k, v in self._versions.items() if v}
            self._keys = [k for k in self._keys if k in self._versions]

    # -- snapshots ------------------------------------------------------------------------

    def to_map(self) -> dict[str, Any]:
        """Every kept version: a replica restored from it answers past reads and watches
        from the compact revision on, as the one that took it."""
        return {
            "revision": self.revision,
            "compacted": self.compacted,
            "changes": [[c.revision, c.key, _wire(c.record), _wire(c.prev)] for c in self.changes],
            "base": [
                [key, versions[0][0], _wire(versions[0][1])]
                for key, versions in self._versions.items()
                if versions and (not self.changes or versions[0][0] < self.changes[0].revision)
            ],
        }

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> Store:
        store = cls()
        for key, revision, wire in m["base"]:  # the versions before the kept changes
            record = Record.from_wire(wire)
            store._versions[key] = [(revision, record)]
            store.current[key] = record
        store._keys = sorted(store._versions)
        for revision, key, record, prev in m["changes"]:
            change = Change(revision, key, _record(record), _record(prev))
            if change.record is None:
                store.current.pop(key, None)
            else:
                store.current[key] = change.record
            store._keep(change)
        store.revision = m["revision"]
        store.compacted = m["compacted"]
        return store

    @classmethod
    def from_current(cls, records: dict[bytes, Record], revision: int) -> Store:
        """A store from format 1's snapshot, which kept current records only."""
        store = cls()
        store.current = dict(records)
        store._versions = {k: [(r.mod_revision, r)] for k, r in records.items()}
        store._keys = sorted(records)
        store.revision = revision
        store.compacted = revision
        return store


def _wire(record: Record | None) -> list[Any] | None:
    return record.to_wire() if record else None


def _record(wire: list[Any] | None) -> Record | None:
    return Record.from_wire(wire) if wire else None
