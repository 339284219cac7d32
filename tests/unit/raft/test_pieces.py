"""A message larger than a frame goes in pieces and comes back whole; pieces that
cannot finish their message are dropped and counted, as Raft drops any lost message;
what no sender of the protocol sends is a PieceError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.raft.transport import frames, pieces
from services.raft.transport.frames import Frame, FrameReader
from services.raft.transport.pieces import PieceError, Reassembly


def gather(reassembly: Reassembly, group: str, parts: list[bytes]) -> list[bytes | None]:
    return [reassembly.add(group, i, len(parts), p) for i, p in enumerate(parts)]


@given(payload=st.binary(min_size=1, max_size=2000), piece_bytes=st.integers(1, 300))
def test_pieces_come_back_as_the_message(payload: bytes, piece_bytes: int) -> None:
    parts = pieces.split(payload, piece_bytes)
    assert len(parts) >= 2 and all(len(p) <= piece_bytes for p in parts)
    got = gather(Reassembly(), "kv", parts)
    assert got == [None] * (len(parts) - 1) + [payload]


def test_a_message_whose_head_was_dropped_is_skipped_and_the_next_comes_whole() -> None:
    """A sender's queue overflows from its oldest end: a message may lose its first
    pieces, never its last while keeping its first."""
    reassembly = Reassembly()
    first, second = pieces.split(b"a" * 10, 3), pieces.split(b"b" * 7, 3)
    assert [reassembly.add("p/0", i, len(first), first[i]) for i in (2, 3)] == [None, None]
    assert gather(reassembly, "p/0", second)[-1] == b"b" * 7
    assert reassembly.dropped == 1


def test_a_message_interrupted_by_a_whole_one_is_dropped() -> None:
    """The connection broke between pieces; on the next one a whole message came first,
    then the rest of the interrupted message, which has no head there."""
    reassembly = Reassembly()
    parts = pieces.split(b"x" * 10, 4)
    assert reassembly.add("p/0", 0, len(parts), parts[0]) is None
    reassembly.interrupt()
    assert reassembly.dropped == 1 and not reassembly.gathering
    assert [reassembly.add("p/0", i, len(parts), parts[i]) for i in (1, 2)] == [None, None]
    assert reassembly.dropped == 2 and not reassembly.gathering


def test_a_message_interrupted_by_another_ones_start_is_dropped_and_that_one_kept() -> None:
    reassembly = Reassembly()
    assert reassembly.add("p/0", 0, 3, b"a") is None
    assert reassembly.add("p/1", 0, 2, b"b") is None
    assert reassembly.add("p/1", 1, 2, b"c") == b"bc"
    assert reassembly.dropped == 1


@pytest.mark.parametrize(("index", "count"), [(0, 1), (0, 0), (3, 3), (5, 2)])
def test_a_piece_no_sender_makes_is_refused(index: int, count: int) -> None:
    with pytest.raises(PieceError):
        Reassembly().add("kv", index, count, b"x")


def test_gathering_past_the_bound_is_refused() -> None:
    reassembly = Reassembly(limit_bytes=10)
    reassembly.add("kv", 0, 3, b"x" * 6)
    with pytest.raises(PieceError, match="past 10 bytes"):
        reassembly.add("kv", 1, 3, b"x" * 6)


def test_the_sender_refuses_a_message_no_peer_would_take_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pieces, "MAX_PIECED_BYTES", 100)
    with pytest.raises(pieces.TooLarge):
        pieces.split(bytes(101), 10)


def test_a_message_larger_than_a_frame_crosses_as_piece_frames() -> None:
    """A snapshot of 20 MiB, past the 8 MiB frame limit, as the TCP transport frames it."""
    payload = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    sent = frames.in_pieces("log/orders/3", payload)
    assert len(sent) == 5 and all(len(f) <= frames.MAX_FRAME_BYTES + 4 for f in sent)
    got = FrameReader().feed(b"".join(sent))
    assert [(f.kind, f.name, f.index, f.count) for f in got] == [
        (frames.PIECE, "log/orders/3", i, 5) for i in range(5)
    ]
    reassembly = Reassembly()
    whole = [reassembly.add(f.name, f.index, f.count, f.payload) for f in got]
    assert whole[-1] == payload


def test_a_piece_frame_too_short_for_its_header_is_refused() -> None:
    body = b"\x03\x00\x02kv\x00\x00"
    with pytest.raises(frames.FrameError, match="too short for its index"):
        FrameReader().feed(len(body).to_bytes(4, "big") + body)


def test_a_piece_frame_round_trips() -> None:
    (frame,) = FrameReader().feed(frames.in_pieces("kv", b"x" * (pieces.PIECE_BYTES + 1))[1])
    assert frame == Frame(frames.PIECE, "kv", b"x", 1, 2)
