"""`LazyFs`: the FUSE operations of the lazy disk, passing through to a backing folder.

Every write reaches the backing folder at once, and what fsync has not yet made durable
is recorded as how to undo it (`undo.py`). `lose_unsynced()` is the power cut: every
file back to its size and bytes at its last fsync, every entry operation since its
directory's last fsync undone, newest first. The durability model is POSIX's, strictly:

- a file's data is durable once the file is fsynced (fsync or fdatasync), not before;
- a name created, removed or renamed is durable once its directory is fsynced: the
  directory that received the name (a rename across directories is durable once the
  destination is fsynced, as one journal transaction on ext4 makes both);
- a failed fsync leaves the changes lost-able even after a later fsync succeeds (Linux
  marks the pages clean after reporting the error: PostgreSQL's "fsyncgate").

Faults: a delay before every fsync or write (a slow disk), and EIO from every fsync or
write (a failing one). An operation that was under way when the power was cut fails
with EIO rather than landing after it.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import random
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos.disk.undo import EntryJournal, EntryOp, FileUndo

log = logging.getLogger("faultlab.disk")

FS_NAME = "faultlab-disk"  # the mount's source and subtype: fstype fuse.faultlab-disk

STAT_KEYS = (
    "st_mode",
    "st_ino",
    "st_nlink",
    "st_uid",
    "st_gid",
    "st_size",
    "st_atime",
    "st_mtime",
    "st_ctime",
)
# Flags the disk handles itself: creation is `create`, truncation arrives as `truncate`,
# and appends come with their offset (the kernel computes it), so the backing file is
# opened without them.
OPEN_FLAGS_HANDLED = os.O_CREAT | os.O_EXCL | os.O_TRUNC | os.O_APPEND


@dataclass
class DiskFaults:
    fsync_delay_ms: float = 0.0  # before every fsync, fdatasync and directory fsync
    write_delay_ms: float = 0.0  # before every write
    fsync_error: bool = False  # every fsync fails with EIO
    write_error: bool = False  # every write fails with EIO


@dataclass
class DiskCounters:
    writes: int = 0
    fsyncs: int = 0
    fsync_errors: int = 0
    write_errors: int = 0
    power_cuts: int = 0
    files_rolled_back: int = 0
    bytes_dropped: int = 0
    entries_undone: int = 0
    undo_failures: int = 0


@dataclass
class LossReport:
    """What one `lose_unsynced` took back."""

    files: int = 0
    bytes_dropped: int = 0
    bytes_restored: int = 0
    entries_undone: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class LazyFs:
    """mfusepy's `FUSE` calls the methods it finds by name; an OSError becomes -errno.
    (No import of mfusepy here: it loads libfuse on import, and the controls and the tests
    of these rules need neither.)"""

    use_ns = True  # times in nanoseconds

    def __init__(self, backing: Path, trash: Path) -> None:
        self.backing = backing
        self.trash = trash  # same filesystem as `backing`: unlinked files wait here
        self.faults = DiskFaults()
        self.counters = DiskCounters()
        self._lock = threading.Lock()
        self._generation = 0  # one more at every power cut
        self._files: dict[int, FileUndo] = {}  # by backing inode
        self._journal = EntryJournal()
        self._trash_names = itertools.count()

    # -- the power cut and the fault switches (the control socket calls these) ---------

    def lose_unsynced(self, torn_seed: int | None = None) -> LossReport:
        torn = random.Random(torn_seed) if torn_seed is not None else None
        report = LossReport()
        with self._lock:
            self._generation += 1
            for undo in self._files.values():
                self._roll_back(undo, torn, report)
            self._files.clear()
            for op in self._journal.take_for_undo():
                try:
                    op.undo()
                    report.entries_undone.append(op.description)
                except OSError as e:
                    report.failures.append(f"undo {op.description}: {e}")
            self.counters.power_cuts += 1
            self.counters.files_rolled_back += report.files
            self.counters.bytes_dropped += report.bytes_dropped
            self.counters.entries_undone += len(report.entries_undone)
            self.counters.undo_failures += len(report.failures)
        log.warning("disk_power_cut", extra={"faultlab_fields": asdict(report)})
        return report

    def _roll_back(self, undo: FileUndo, torn: random.Random | None, report: LossReport) -> None:
        try:
            size_now = os.fstat(undo.fd).st_size
            size, zeroed = undo.restore_plan(size_now, torn)
            os.ftruncate(undo.fd, size)
            if zeroed:
                os.pwrite(undo.fd, bytes(zeroed), size - zeroed)
            for offset, original in undo.saved:
                os.pwrite(undo.fd, original, offset)
            report.files += 1
            report.bytes_dropped += max(0, size_now - size) + zeroed
            report.bytes_restored += undo.saved_bytes()
        except OSError as e:
            report.failures.append(f"roll back inode fd {undo.fd}: {e}")
        finally:
            os.close(undo.fd)

    def status(self) -> dict[str, Any]:
        with self._lock:
            unsynced = 0
            for undo in self._files.values():
                with contextlib.suppress(OSError):
                    unsynced += max(0, os.fstat(undo.fd).st_size - undo.durable_size)
                unsynced += undo.saved_bytes()
            return {
                "unsynced_files": len(self._files),
                "unsynced_bytes": unsynced,
                "unsynced_entries": [op.description for op in self._journal.ops],
                "faults": asdict(self.faults),
                "counters": asdict(self.counters),
            }

    # -- helpers ------------------------------------------------------------------------

    def _real(self, path: str) -> str:
        return str(self.backing) + path

    def _begin(self, delay_ms: float) -> int:
        """Wait out a slow-disk delay (outside the lock), and note the power generation."""
        generation = self._generation
        if delay_ms > 0:
            time.sleep(delay_ms / 1000)
        return generation

    def _check_power(self, generation: int) -> None:
        """Under the lock: an operation started before a power cut must not land after it."""
        if generation != self._generation:
            raise _eio()

    def _undo_for(self, path: str, ino: int) -> FileUndo:
        undo = self._files.get(ino)
        if undo is None:
            fd = os.open(self._real(path), os.O_RDWR)
            undo = FileUndo(fd, os.fstat(fd).st_size)
            self._files[ino] = undo
        return undo

    def _forget_file(self, ino: int) -> None:
        undo = self._files.pop(ino, None)
        if undo is not None:
            os.close(undo.fd)

    def _to_trash(self, real: str) -> tuple[str, int]:
        """Move a name's file aside instead of deleting it, so the deletion can be undone."""
        ino = os.lstat(real).st_ino
        parked = str(self.trash / str(next(self._trash_names)))
        os.rename(real, parked)
        return parked, ino

    def _delete_parked(self, parked: str, ino: int) -> None:
        self._forget_file(ino)
        if os.path.isdir(parked) and not os.path.islink(parked):
            shutil.rmtree(parked)
        else:
            os.unlink(parked)

    # -- metadata -------------------------------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        st = os.fstat(fh) if fh is not None else os.lstat(self._real(path))
        attrs = {key: getattr(st, key) for key in STAT_KEYS}
        for key in ("st_atime", "st_mtime", "st_ctime"):
            attrs[key] = getattr(st, key + "_ns")
        return attrs

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._real(path), amode):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._real(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._real(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        if times is None:
            os.utime(self._real(path))
        else:
            os.utime(self._real(path), ns=times)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._real(path))
        keys = (
            "f_bavail",
            "f_bfree",
            "f_blocks",
            "f_bsize",
            "f_favail",
            "f_ffree",
            "f_files",
            "f_flag",
            "f_frsize",
            "f_namemax",
        )
        return {key: getattr(st, key) for key in keys}

    # -- directories ----------------------------------------------------------------------

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._real(path))]

    def opendir(self, path: str) -> int:
        return os.open(self._real(path), os.O_RDONLY | os.O_DIRECTORY)

    def releasedir(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        self._begin(self.faults.fsync_delay_ms)
        with self._lock:
            self.counters.fsyncs += 1
            if self.faults.fsync_error:
                self.counters.fsync_errors += 1
                raise _eio()
            os.fsync(fh)
            for op in self._journal.made_durable(path):
                if op.on_durable is not None:
                    op.on_durable()
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        real = self._real(path)
        with self._lock:
            os.mkdir(real, mode)
            self._journal.add(EntryOp(_parent(path), f"mkdir {path}", lambda: shutil.rmtree(real)))
        return 0

    def rmdir(self, path: str) -> int:
        real = self._real(path)
        with self._lock:
            mode = os.lstat(real).st_mode & 0o7777
            os.rmdir(real)
            self._journal.add(EntryOp(_parent(path), f"rmdir {path}", lambda: os.mkdir(real, mode)))
        return 0

    # -- names ----------------------------------------------------------------------------

    def create(self, path: str, mode: int, flags: int = os.O_WRONLY) -> int:
        real = self._real(path)
        with self._lock:
            fd = os.open(real, (flags & ~OPEN_FLAGS_HANDLED) | os.O_CREAT | os.O_EXCL, mode)
            # A new file is durable at size 0 only once its directory is fsynced.
            self._files[os.fstat(fd).st_ino] = FileUndo(os.open(real, os.O_RDWR), 0)
            self._journal.add(EntryOp(_parent(path), f"create {path}", lambda: os.unlink(real)))
        return fd

    def unlink(self, path: str) -> int:
        real = self._real(path)
        with self._lock:
            parked, ino = self._to_trash(real)
            self._journal.add(
                EntryOp(
                    _parent(path),
                    f"unlink {path}",
                    undo=lambda: os.rename(parked, real),
                    on_durable=lambda: self._delete_parked(parked, ino),
                )
            )
        return 0

    def rename(self, old: str, new: str) -> int:
        real_old, real_new = self._real(old), self._real(new)
        with self._lock:
            displaced = self._to_trash(real_new) if os.path.lexists(real_new) else None
            os.rename(real_old, real_new)

            def undo() -> None:
                os.rename(real_new, real_old)
                if displaced is not None:
                    os.rename(displaced[0], real_new)

            def on_durable() -> None:
                if displaced is not None:
                    self._delete_parked(*displaced)

            self._journal.add(EntryOp(_parent(new), f"rename {old} -> {new}", undo, on_durable))
        return 0

    # -- file data ------------------------------------------------------------------------

    def open(self, path: str, flags: int) -> int:
        return os.open(self._real(path), flags & ~OPEN_FLAGS_HANDLED)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return os.pread(fh, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        generation = self._begin(self.faults.write_delay_ms)
        with self._lock:
            self._check_power(generation)
            self.counters.writes += 1
            if self.faults.write_error:
                self.counters.write_errors += 1
                raise _eio()
            undo = self._undo_for(path, os.fstat(fh).st_ino)
            undo.before_overwrite(offset, offset + len(data), lambda o, n: os.pread(fh, n, o))
            return os.pwrite(fh, data, offset)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        with self._lock:
            st = os.fstat(fh) if fh is not None else os.lstat(self._real(path))
            undo = self._undo_for(path, st.st_ino)
            undo.before_overwrite(length, st.st_size, lambda o, n: os.pread(undo.fd, n, o))
            os.truncate(fh if fh is not None else self._real(path), length)
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        generation = self._begin(self.faults.fsync_delay_ms)
        with self._lock:
            self._check_power(generation)
            self.counters.fsyncs += 1
            ino = os.fstat(fh).st_ino
            if self.faults.fsync_error:
                self.counters.fsync_errors += 1
                if ino in self._files:
                    self._files[ino].poisoned = True
                raise _eio()
            os.fsync(fh)
            undo = self._files.get(ino)
            if undo is not None and not undo.poisoned:
                self._forget_file(ino)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0  # close() is not a sync point

    def release(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0


def _eio() -> OSError:
    return OSError(errno.EIO, os.strerror(errno.EIO))


def _parent(path: str) -> str:
    parent = path.rsplit("/", 1)[0]
    return parent or "/"
