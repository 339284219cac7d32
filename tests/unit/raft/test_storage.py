"""RaftStorage: what a restart recovers after compaction and after a snapshot install."""

from __future__ import annotations

from pathlib import Path

from services.raft.messages import Entry, HardState, Snapshot
from services.raft.ready import Ready, SoftState
from services.raft.storage import FsyncPolicy, RaftStorage


def ready(
    entries: tuple[Entry, ...] = (), hard_state: HardState | None = None,
    snapshot: Snapshot | None = None,
) -> Ready:  # fmt: skip
    return Ready(SoftState("follower", "", 1), hard_state, entries, snapshot, (), (), (), True)


def entries(lo: int, hi: int, term: int = 1) -> tuple[Entry, ...]:
    return tuple(Entry(term, i, f"e{i}".encode()) for i in range(lo, hi + 1))


def small_segments(path: Path) -> RaftStorage:
    storage = RaftStorage(path, FsyncPolicy.ALWAYS)
    storage.wal.segment_bytes = 40  # a few records per segment
    return storage


def test_compaction_drops_covered_segments_and_keeps_the_rest(tmp_path: Path) -> None:
    storage = small_segments(tmp_path)
    storage.recover()
    for i in range(1, 11):
        storage.persist(ready(entries(i, i), HardState(1, "n1", i)))
    before = len(storage.wal.segments())
    storage.compact(Snapshot(6, 1, ("n1", "n2", "n3"), b"state@6"))
    assert len(storage.wal.segments()) < before
    storage.close()

    restored = RaftStorage(tmp_path).recover()
    assert restored.snapshot is not None and restored.snapshot.data == b"state@6"
    assert [e.index for e in restored.entries] == [7, 8, 9, 10]
    assert restored.hard_state == HardState(1, "n1", 10)


def test_an_installed_snapshot_replaces_the_whole_log(tmp_path: Path) -> None:
    storage = small_segments(tmp_path)
    storage.recover()
    storage.persist(ready(entries(1, 8, term=1), HardState(2, "n1", 3)))  # 4..8 never commit
    snap = Snapshot(5, 3, ("n1", "n2", "n3"), b"leader@5")
    storage.persist(ready(hard_state=HardState(3, "", 5), snapshot=snap))
    storage.persist(ready(entries(6, 6, term=3)))
    storage.close()

    restored = RaftStorage(tmp_path).recover()
    assert restored.snapshot == snap
    assert [(e.index, e.term) for e in restored.entries] == [(6, 3)], "stale entries survived"
    assert restored.hard_state == HardState(3, "", 5)


def test_only_a_persist_that_fsyncs_or_writes_a_snapshot_blocks(tmp_path: Path) -> None:
    """What the driver moves off the event loop: a commit-index-only write under the
    default policy is a buffered write; entries are not, unless nothing is ever synced."""
    commit_only = Ready(SoftState("leader", "n1", 1), HardState(1, "n1", 5), (), None, (), (),
                        (), must_sync=False)  # fmt: skip
    with_entries = ready(entries(1, 1))
    snap = ready(snapshot=Snapshot(1, 1, ("n1",), b""))
    expected = {
        FsyncPolicy.BATCH: (False, True, True),
        FsyncPolicy.ALWAYS: (True, True, True),  # ALWAYS syncs every write
        FsyncPolicy.NEVER: (False, False, True),
    }
    for policy, blocks in expected.items():
        storage = RaftStorage(tmp_path / policy.value, policy)
        assert tuple(storage.blocks(rd) for rd in (commit_only, with_entries, snap)) == blocks
