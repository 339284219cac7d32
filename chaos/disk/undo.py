"""What a power cut would take back: the bookkeeping of the lazy disk, free of FUSE.

The lazy disk writes through to its backing folder at once and keeps, instead of the
un-fsynced data itself, what it needs to *undo* it (the reverse of LazyFS, which holds
the data in its own cache): per file, the size at its last fsync and the original bytes
of every range overwritten below that size since; per directory, the entry operations
(create, unlink, rename, mkdir, rmdir) since its last fsync, each with its inverse.
Reads are then plain pass-through, and an append, the common write, costs no memory.

    undo = FileUndo(fd, durable_size=4096)
    undo.before_overwrite(0, 100, read_original)   # saves bytes 0..99, once
    size, zeroed = undo.restore_plan(size_now, torn=None)
    # the power cut: truncate to `size`, write back `undo.saved` (LazyFs._roll_back)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

Read = Callable[[int, int], bytes]  # (offset, length) -> the bytes there now


def uncovered(covered: list[tuple[int, int]], start: int, stop: int) -> list[tuple[int, int]]:
    """The parts of [start, stop) outside the sorted, disjoint ranges in `covered`."""
    gaps, at = [], start
    for lo, hi in covered:
        if hi <= at:
            continue
        if lo >= stop:
            break
        if lo > at:
            gaps.append((at, lo))
        at = max(at, hi)
    if at < stop:
        gaps.append((at, stop))
    return gaps


def merged(covered: list[tuple[int, int]], start: int, stop: int) -> list[tuple[int, int]]:
    """`covered` with [start, stop) added, still sorted and disjoint."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted([*covered, (start, stop)]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@dataclass
class FileUndo:
    """One file's changes since its last fsync, as what restores it."""

    fd: int  # the disk's own descriptor: it follows the file through renames and unlinks
    durable_size: int
    saved: list[tuple[int, bytes]] = field(default_factory=list)  # original bytes by offset
    covered: list[tuple[int, int]] = field(default_factory=list)
    # An fsync of this file failed. Linux then marks the dirty pages clean, so a later
    # fsync "succeeds" without writing them: these changes stay lost-able ("fsyncgate").
    poisoned: bool = False

    def before_overwrite(self, start: int, stop: int, read: Read) -> None:
        """Called before bytes [start, stop) change: keep the durable ones, once."""
        stop = min(stop, self.durable_size)
        if start >= stop:
            return  # all of it beyond the durable size: truncating restores it
        for lo, hi in uncovered(self.covered, start, stop):
            self.saved.append((lo, read(lo, hi - lo)))
        self.covered = merged(self.covered, start, stop)

    def saved_bytes(self) -> int:
        return sum(len(b) for _, b in self.saved)

    def restore_plan(self, size_now: int, torn: random.Random | None) -> tuple[int, int]:
        """(size to truncate to, bytes after the durable size to zero-fill from the end).

        A clean power cut keeps nothing beyond the durable size. A torn one (`torn`
        given) keeps a random prefix of what was appended, and of that prefix a random
        tail reads back as zeros: the file's size reached the disk, its data did not."""
        if torn is None or size_now <= self.durable_size:
            return self.durable_size, 0
        kept = torn.randint(self.durable_size, size_now)
        return kept, torn.randint(0, kept - self.durable_size)


@dataclass
class EntryOp:
    """A directory entry operation not yet made durable by an fsync of `directory`."""

    directory: str  # the directory (path in the disk) whose fsync makes it durable
    description: str
    undo: Callable[[], None]
    on_durable: Callable[[], None] | None = None  # e.g. delete an unlinked file for real


@dataclass
class EntryJournal:
    """Entry operations in the order they happened; undone newest first."""

    ops: list[EntryOp] = field(default_factory=list)

    def add(self, op: EntryOp) -> None:
        self.ops.append(op)

    def made_durable(self, directory: str) -> list[EntryOp]:
        """`directory` was fsynced: its operations are durable and leave the journal."""
        durable = [op for op in self.ops if op.directory == directory]
        self.ops = [op for op in self.ops if op.directory != directory]
        return durable

    def take_for_undo(self) -> list[EntryOp]:
        ops, self.ops = self.ops, []
        return list(reversed(ops))
