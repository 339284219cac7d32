"""A message larger than a frame goes in pieces and comes back whole; pieces that
cannot finish their message are dropped and counted, as Raft drops any lost message;
what no sender of the protocol sends is a PieceError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from services.raft.codec import decode_message
from services.raft.messages import Message, MessageType, Snapshot
from services.raft.transport import frames, pieces
from services.raft.transport.frames import Frame, FrameReader
from services.raft.transport.pieces import PieceError, Reassembly
from services.raft.transport.protocol import outgoing

TOO_LARGE = "faultlab_raft_messages_too_large_total"


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
    parts = pieces.split(payload)
    sent = [frames.piece("log/orders/3", i, len(parts), p) for i, p in enumerate(parts)]
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
    (frame,) = FrameReader().feed(frames.piece("kv", 1, 2, b"x"))
    assert frame == Frame(frames.PIECE, "kv", b"x", 1, 2)


def snapshot_message(size: int) -> Message:
    snap = Snapshot(index=9, term=2, voters=("n1", "n2", "n3"), data=bytes(size))
    return Message(MessageType.SNAPSHOT, "n1", "n2", 2, snapshot=snap)


def test_what_a_message_goes_out_as() -> None:
    """Whole when it fits a frame; in pieces that put back together decode to it when
    larger; nothing, logged and counted, when no peer would take it back."""
    small = snapshot_message(100)
    assert [decode_message(p) for p in outgoing("kv", small)] == [small]
    large = snapshot_message(pieces.PIECE_BYTES + 10)
    parts = outgoing("kv", large)
    assert len(parts) == 2
    reassembly = Reassembly()
    assert decode_message(gather(reassembly, "kv", parts)[-1] or b"") == large


def test_a_message_too_large_for_pieces_is_dropped_counted_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pieces, "MAX_PIECED_BYTES", pieces.PIECE_BYTES + 100)
    counted = REGISTRY.get_sample_value(TOO_LARGE, {"group": "log/big/0"}) or 0.0
    huge = snapshot_message(pieces.PIECE_BYTES + 1000)
    assert outgoing("log/big/0", huge) == [] and outgoing("log/big/0", huge) == []
    assert REGISTRY.get_sample_value(TOO_LARGE, {"group": "log/big/0"}) == counted + 2
    assert sum("raft_message_too_large" in r.getMessage() for r in caplog.records) == 1
