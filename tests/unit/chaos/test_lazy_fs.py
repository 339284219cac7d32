"""The lazy disk's rules, called directly (no FUSE mount): what a power cut keeps.

The filesystem's methods take the paths and handles FUSE would hand them, over a real
backing folder; the mounted disk is tested in tests/integration/test_lazy_disk.py.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.disk.fs import LazyFs
from chaos.disk.undo import merged, uncovered


def make_fs(tmp_path: Path) -> LazyFs:
    (tmp_path / "backing").mkdir()
    (tmp_path / "trash").mkdir()
    return LazyFs(tmp_path / "backing", tmp_path / "trash")


def content(fs: LazyFs, path: str) -> bytes:
    return Path(fs._real(path)).read_bytes()


def durable_file(fs: LazyFs, path: str, data: bytes) -> int:
    """A file created, written, fsynced and its directory fsynced; returns its handle."""
    fh = fs.create(path, 0o644, os.O_RDWR)
    fs.write(path, data, 0, fh)
    fs.fsync(path, 0, fh)
    fsync_dir(fs, "/")
    return fh


def fsync_dir(fs: LazyFs, path: str) -> None:
    fh = fs.opendir(path)
    fs.fsyncdir(path, 0, fh)
    fs.releasedir(path, fh)


# -- byte ranges ------------------------------------------------------------------------


@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50))),
    st.integers(0, 60),
    st.integers(0, 60),
)
def test_uncovered_and_merged_partition_a_range(
    spans: list[tuple[int, int]], a: int, b: int
) -> None:
    covered: list[tuple[int, int]] = []
    for lo, hi in spans:
        covered = merged(covered, min(lo, hi), max(lo, hi))
    start, stop = min(a, b), max(a, b)
    held = {i for lo, hi in covered for i in range(lo, hi)}
    gaps = {i for lo, hi in uncovered(covered, start, stop) for i in range(lo, hi)}
    assert gaps == set(range(start, stop)) - held


# -- file data ------------------------------------------------------------------------------

WRITE = st.tuples(st.just("write"), st.integers(0, 300), st.binary(min_size=1, max_size=80))
TRUNCATE = st.tuples(st.just("truncate"), st.integers(0, 300), st.just(b""))
FSYNC = st.tuples(st.just("fsync"), st.just(0), st.just(b""))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200), st.lists(st.one_of(WRITE, TRUNCATE, FSYNC), max_size=30))
def test_a_power_cut_returns_a_file_to_its_last_fsync(
    tmp_path_factory: pytest.TempPathFactory, initial: bytes, ops: list[tuple[str, int, bytes]]
) -> None:
    fs = make_fs(tmp_path_factory.mktemp("fs"))
    fh = durable_file(fs, "/f", initial)
    model, durable = bytearray(initial), bytes(initial)
    for op, offset, data in ops:
        if op == "write":
            fs.write("/f", data, offset, fh)
            model.extend(bytes(max(0, offset - len(model))))
            model[offset : offset + len(data)] = data
        elif op == "truncate":
            fs.truncate("/f", offset, fh)
            model = model[:offset] + bytearray(max(0, offset - len(model)))
        else:
            fs.fsync("/f", 0, fh)
            durable = bytes(model)
        assert content(fs, "/f") == bytes(model)  # writes go through at once
    fs.lose_unsynced()
    assert content(fs, "/f") == durable


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=1, max_size=100), st.binary(min_size=1, max_size=200), st.integers())
def test_a_torn_power_cut_keeps_a_prefix_of_the_appended_bytes(
    tmp_path_factory: pytest.TempPathFactory, synced: bytes, appended: bytes, seed: int
) -> None:
    fs = make_fs(tmp_path_factory.mktemp("fs"))
    fh = durable_file(fs, "/f", synced)
    fs.write("/f", appended, len(synced), fh)
    fs.lose_unsynced(torn_seed=seed)
    after = content(fs, "/f")
    assert after[: len(synced)] == synced
    kept = after[len(synced) :]
    assert len(kept) <= len(appended)
    # What survives is the appended bytes, then perhaps a run of zeros: never other data.
    data = kept.rstrip(b"\0")
    assert appended.startswith(data) or set(kept) <= {0}


def test_a_failed_fsync_leaves_the_data_losable_even_after_a_later_fsync(tmp_path: Path) -> None:
    fs = make_fs(tmp_path)
    fh = durable_file(fs, "/f", b"old")
    fs.write("/f", b"new", 3, fh)
    fs.faults.fsync_error = True
    with pytest.raises(OSError) as failed:
        fs.fsync("/f", 0, fh)
    assert failed.value.errno == errno.EIO
    fs.faults.fsync_error = False
    fs.fsync("/f", 0, fh)  # "succeeds": Linux marked the pages clean after the error
    fs.lose_unsynced()
    assert content(fs, "/f") == b"old"


def test_a_write_under_way_at_the_power_cut_does_not_land_after_it(tmp_path: Path) -> None:
    fs = make_fs(tmp_path)
    durable_file(fs, "/f", b"old")
    generation = fs._begin(0)  # the write arrived...
    fs.lose_unsynced()  # ...the power went...
    with pytest.raises(OSError) as failed, fs._lock:
        fs._check_power(generation)  # ...and it fails instead of landing
    assert failed.value.errno == errno.EIO
    assert content(fs, "/f") == b"old"


# -- directory entries ------------------------------------------------------------------


def test_a_created_file_is_gone_unless_its_directory_was_fsynced(tmp_path: Path) -> None:
    fs = make_fs(tmp_path)
    kept = durable_file(fs, "/kept", b"k")
    lost = fs.create("/lost", 0o644, os.O_RDWR)
    fs.write("/lost", b"data", 0, lost)
    fs.fsync("/lost", 0, lost)  # the data is durable, the name is not
    fs.lose_unsynced()
    assert sorted(fs.readdir("/", kept)) == [".", "..", "kept"]


def test_a_rename_without_a_directory_fsync_is_undone(tmp_path: Path) -> None:
    fs = make_fs(tmp_path)
    durable_file(fs, "/snap.tmp", b"new")
    durable_file(fs, "/snap", b"old")
    fs.rename("/snap.tmp", "/snap")
    assert content(fs, "/snap") == b"new"
    fs.lose_unsynced()
    assert content(fs, "/snap") == b"old"
    assert content(fs, "/snap.tmp") == b"new"


def test_a_rename_with_a_directory_fsync_stays_and_the_old_file_is_deleted(tmp_path: Path) -> None:
    fs = make_fs(tmp_path)
    durable_file(fs, "/snap.tmp", b"new")
    durable_file(fs, "/snap", b"old")
    fs.rename("/snap.tmp", "/snap")
    fsync_dir(fs, "/")
    fs.lose_unsynced()
    assert content(fs, "/snap") == b"new"
    assert not list((tmp_path / "trash").iterdir())  # the replaced file is gone for real


def test_an_unlink_without_a_directory_fsync_is_undone_with_its_data(tmp_path: Path) -> None:
    fs = make_fs(tmp_path)
    durable_file(fs, "/f", b"durable")
    fs.unlink("/f")
    fs.lose_unsynced()
    assert content(fs, "/f") == b"durable"


def test_a_directory_made_without_an_fsync_of_its_parent_goes_with_its_files(
    tmp_path: Path,
) -> None:
    fs = make_fs(tmp_path)
    fs.mkdir("/wal", 0o755)
    fh = fs.create("/wal/seg", 0o644, os.O_RDWR)
    fs.write("/wal/seg", b"x", 0, fh)
    fs.fsync("/wal/seg", 0, fh)
    fsync_dir(fs, "/wal")  # the file's name is durable in /wal, but /wal itself is not
    fs.lose_unsynced()
    assert not Path(fs._real("/wal")).exists()


def test_status_counts_what_a_power_cut_would_take(tmp_path: Path) -> None:
    fs = make_fs(tmp_path)
    fh = durable_file(fs, "/f", b"12345")
    fs.write("/f", b"abc", 5, fh)
    fs.create("/g", 0o644, os.O_RDWR)
    status = fs.status()
    assert status["unsynced_files"] == 2
    assert status["unsynced_bytes"] == 3
    assert status["unsynced_entries"] == ["create /g"]
    report = fs.lose_unsynced()
    assert report.bytes_dropped == 3
    assert report.entries_undone == ["create /g"]
    assert fs.status()["unsynced_files"] == 0
