"""The write-ahead log: what a restart sees after clean stops, torn writes and damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.raft.messages import Entry, HardState
from services.raft.storage.wal import CorruptWal, FsyncPolicy, WriteAheadLog


def entries(lo: int, hi: int, term: int = 1) -> tuple[Entry, ...]:
    return tuple(Entry(term, i, f"cmd{i}".encode()) for i in range(lo, hi + 1))


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_round_trip(tmp_path: Path, policy: FsyncPolicy) -> None:
    wal = WriteAheadLog(tmp_path, policy)
    wal.recover()
    wal.save(HardState(1, "n1", 0), entries(1, 3))
    wal.save(HardState(2, "n2", 3), entries(4, 5, term=2))
    wal.close()

    restored = WriteAheadLog(tmp_path).recover()
    assert restored.hard_state == HardState(2, "n2", 3)
    assert [(e.index, e.term) for e in restored.entries] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)]


def test_a_conflicting_entry_replaces_the_tail(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.recover()
    wal.save(None, entries(1, 5))
    wal.save(None, entries(3, 3, term=2))  # a new leader overwrote from index 3
    wal.close()
    restored = WriteAheadLog(tmp_path).recover()
    assert [(e.index, e.term) for e in restored.entries] == [(1, 1), (2, 1), (3, 2)]


@pytest.mark.parametrize("cut", [1, 5, 9, 15])
def test_a_torn_last_record_recovers_to_the_last_good_entry(tmp_path: Path, cut: int) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.recover()
    wal.save(HardState(1, "n1", 2), entries(1, 3))
    wal.close()
    segment = wal.segments()[-1]
    good = segment.stat().st_size
    wal2 = WriteAheadLog(tmp_path)
    wal2.recover()
    wal2.save(None, entries(4, 4))
    wal2.close()
    # The crash: only part of the last record reached the disk.
    data = segment.read_bytes()
    assert good + cut < len(data), "the cut must fall inside the last record"
    segment.write_bytes(data[: good + cut])

    recovered = WriteAheadLog(tmp_path)
    restored = recovered.recover()
    assert [e.index for e in restored.entries] == [1, 2, 3]
    assert restored.hard_state == HardState(1, "n1", 2)
    assert recovered.truncated_bytes == cut and segment.stat().st_size == good
    recovered.save(None, entries(4, 4, term=2))  # appends cleanly after the cut
    recovered.close()
    assert [e.term for e in WriteAheadLog(tmp_path).recover().entries] == [1, 1, 1, 2]


def test_a_flipped_bit_in_the_tail_is_a_torn_write(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.recover()
    wal.save(None, entries(1, 3))
    wal.close()
    segment = wal.segments()[-1]
    data = bytearray(segment.read_bytes())
    data[-2] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert [e.index for e in WriteAheadLog(tmp_path).recover().entries] == [1, 2]


def test_damage_before_the_last_segment_is_refused(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=40)
    wal.recover()
    for i in range(1, 11):
        wal.save(None, entries(i, i))
    wal.close()
    segments = wal.segments()
    assert len(segments) > 2
    first = segments[0]
    first.write_bytes(first.read_bytes()[:-3])
    with pytest.raises(CorruptWal, match="damaged"):
        WriteAheadLog(tmp_path).recover()


def test_segments_roll_and_replay_in_order(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=100)
    wal.recover()
    for i in range(1, 21):
        wal.save(HardState(1, "n1", i), entries(i, i))
    wal.close()
    assert len(wal.segments()) > 3
    restored = WriteAheadLog(tmp_path).recover()
    assert [e.index for e in restored.entries] == list(range(1, 21))
    assert restored.hard_state.commit == 20


def test_a_zero_filled_tail_is_a_torn_write(tmp_path: Path) -> None:
    """After a power cut a file's size can reach the disk without its data: zeros. An
    all-zero header passes the CRC of an empty payload, and once crashed recovery."""
    wal = WriteAheadLog(tmp_path)
    wal.recover()
    wal.save(None, entries(1, 2))
    wal.close()
    segment = wal.segments()[-1]
    good = segment.stat().st_size
    segment.write_bytes(segment.read_bytes() + bytes(30))
    recovered = WriteAheadLog(tmp_path)
    assert [e.index for e in recovered.recover().entries] == [1, 2]
    assert recovered.truncated_bytes == 30 and segment.stat().st_size == good
