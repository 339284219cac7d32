"""The lazy disk mounted for real (FUSE, its own process): the kernel's path to it, what a
power cut keeps, its faults, and that no mount outlives its owner."""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.disk.control import DiskControlError
from chaos.disk.mounts import DiskError, LazyDisk, fuse_unavailable_reason, mounted_disks
from cluster import processes
from cluster.waiting import wait_until
from services.raft.messages import Entry, HardState
from services.raft.storage.durable import fsync_dir
from services.raft.storage.wal import FsyncPolicy, WriteAheadLog

pytestmark = pytest.mark.integration


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[LazyDisk]:
    spawner = processes.Spawner()
    disk = LazyDisk(tmp_path / "mnt", tmp_path / "state", spawner)
    disk.mount()
    try:
        yield disk
    finally:
        disk.unmount()
        spawner.close()
        assert disk.mount_point.resolve() not in mounted_disks()


def write_file(path: Path, data: bytes, sync: bool) -> None:
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        if sync:
            os.fsync(f.fileno())


def test_fsynced_data_survives_a_power_cut_and_the_rest_does_not(disk: LazyDisk) -> None:
    root = disk.mount_point
    write_file(root / "log", b"durable;", sync=True)
    fsync_dir(root)
    write_file(root / "log", b"lost", sync=False)
    assert (root / "log").read_bytes() == b"durable;lost"  # readers see it until the cut
    report = disk.control.lose_unsynced()
    assert report["bytes_dropped"] == 4
    assert (root / "log").read_bytes() == b"durable;"


def test_a_rename_without_a_directory_fsync_is_undone(disk: LazyDisk) -> None:
    root = disk.mount_point
    write_file(root / "snap", b"old", sync=True)
    write_file(root / "snap.tmp", b"new", sync=True)
    fsync_dir(root)
    (root / "snap.tmp").replace(root / "snap")
    disk.control.lose_unsynced()
    assert (root / "snap").read_bytes() == b"old"
    assert (root / "snap.tmp").read_bytes() == b"new"


def test_eio_from_fsync_reaches_the_caller(disk: LazyDisk) -> None:
    disk.control.set_faults(fsync_error=True)
    with open(disk.mount_point / "f", "wb") as f:
        f.write(b"x")
        f.flush()
        with pytest.raises(OSError) as failed:
            os.fsync(f.fileno())
    assert failed.value.errno == errno.EIO
    disk.control.clear_faults()
    assert disk.control.status()["counters"]["fsync_errors"] == 1


def test_eio_from_write_reaches_the_caller(disk: LazyDisk) -> None:
    disk.control.set_faults(write_error=True)
    fd = os.open(disk.mount_point / "f", os.O_CREAT | os.O_WRONLY)
    try:
        with pytest.raises(OSError) as failed:
            os.write(fd, b"x")
        assert failed.value.errno == errno.EIO
    finally:
        os.close(fd)


def test_a_slow_disk_delays_every_fsync(disk: LazyDisk) -> None:
    disk.control.set_faults(fsync_delay_ms=200)
    with open(disk.mount_point / "f", "wb") as f:
        f.write(b"x")
        f.flush()
        started = time.monotonic()
        os.fsync(f.fileno())
    assert time.monotonic() - started >= 0.2  # the delay is a floor, not a benchmark


def test_the_wal_recovers_what_it_synced_and_loses_the_rest(disk: LazyDisk) -> None:
    wal = WriteAheadLog(disk.mount_point / "wal", FsyncPolicy.BATCH)
    wal.recover()
    wal.save(HardState(1, "n1", 2), tuple(Entry(1, i, b"synced") for i in (1, 2)))
    wal.sync()
    wal.save(HardState(1, "n1", 3), (Entry(1, 3, b"not synced"),))
    disk.control.lose_unsynced()
    wal.close()
    restored = WriteAheadLog(disk.mount_point / "wal", FsyncPolicy.BATCH).recover()
    assert [e.index for e in restored.entries] == [1, 2]
    assert restored.hard_state == HardState(1, "n1", 2)


def test_with_fsync_never_the_wal_loses_everything_on_a_power_cut(disk: LazyDisk) -> None:
    wal = WriteAheadLog(disk.mount_point / "wal", FsyncPolicy.NEVER)
    wal.recover()
    for i in range(1, 11):
        wal.save(HardState(1, "n1", i), (Entry(1, i, b"x"),))
        wal.sync()  # a no-op under NEVER
    disk.control.lose_unsynced()
    wal.close()
    restored = WriteAheadLog(disk.mount_point / "wal", FsyncPolicy.NEVER).recover()
    assert restored.entries == ()


def test_a_torn_tail_is_truncated_on_recovery(disk: LazyDisk) -> None:
    wal = WriteAheadLog(disk.mount_point / "wal", FsyncPolicy.BATCH)
    wal.recover()
    wal.save(None, (Entry(1, 1, b"synced"),))
    wal.sync()
    for i in range(2, 40):
        wal.save(None, (Entry(1, i, b"y" * 100),))
    report = disk.control.lose_unsynced(torn_seed=3)
    wal.close()
    assert report["bytes_dropped"] > 0
    recovered = WriteAheadLog(disk.mount_point / "wal", FsyncPolicy.BATCH)
    entries = recovered.recover().entries
    assert [e.index for e in entries] == list(range(1, len(entries) + 1))  # a clean prefix
    assert entries[0].data == b"synced"


def test_a_killed_disk_process_leaves_no_mount(tmp_path: Path) -> None:
    spawner = processes.Spawner()
    disk = LazyDisk(tmp_path / "mnt", tmp_path / "state", spawner)
    disk.mount()
    try:
        assert disk._proc is not None
        os.kill(disk._proc.pid, signal.SIGKILL)
        wait_until(lambda: not disk.is_mounted(), 10.0, "auto_unmount after kill -9")
    finally:
        disk.unmount()
        spawner.close()


def test_without_fuse_the_error_says_so_and_what_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no fusermount3 on it
    assert fuse_unavailable_reason() is not None
    spawner = processes.Spawner()
    with pytest.raises(DiskError, match=r"FUSE cannot be used here.*no-fsync"):
        LazyDisk(tmp_path / "mnt", tmp_path / "state", spawner).mount()
    spawner.close()


def test_a_bad_control_request_is_refused_and_the_disk_goes_on(disk: LazyDisk) -> None:
    with pytest.raises(DiskControlError, match=r"refused.*fsync_dela"):
        disk.control.set_faults(fsync_dela=5)  # a misspelt fault
    with pytest.raises(DiskControlError, match="unknown op"):
        disk.control._call({"op": "format"})
    write_file(disk.mount_point / "f", b"still here", sync=True)
    assert disk.control.status()["faults"]["fsync_delay_ms"] == 0
