"""The framed TCP transport's wire format: frames come back whole however TCP cuts the
stream, and anything that is not a frame of the protocol is a FrameError, refused from
what is already there (an oversized length from its header alone)."""

from __future__ import annotations

import contextlib
import itertools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.raft.transport import frames
from services.raft.transport.frames import Frame, FrameError, FrameReader

groups = st.text(max_size=40)
payloads = st.binary(max_size=300)
streams = st.lists(st.tuples(groups, payloads), max_size=8)


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@given(sender=st.text(min_size=1, max_size=9), sent=streams, cuts=st.lists(st.integers(0, 10**6)))
def test_frames_come_back_whole_however_the_stream_is_cut(
    sender: str, sent: list[tuple[str, bytes]], cuts: list[int]
) -> None:
    data = frames.hello(sender) + b"".join(frames.message(g, p) for g, p in sent)
    reader = FrameReader()
    got = [f for piece in _pieces(data, cuts) for f in reader.feed(piece)]
    assert got == [
        Frame(frames.HELLO, sender),
        *(Frame(frames.MESSAGE, g, p) for g, p in sent),
    ]
    assert not reader.partial


@given(sent=streams.filter(bool), keep=st.floats(0.0, 0.999))
def test_a_stream_cut_inside_a_frame_leaves_it_partial_and_undelivered(
    sent: list[tuple[str, bytes]], keep: float
) -> None:
    data = b"".join(frames.message(g, p) for g, p in sent)
    last = frames.message(*sent[-1])
    cut = len(data) - len(last) + int(len(last) * keep)
    reader = FrameReader()
    got = reader.feed(data[:cut])
    assert len(got) == len(sent) - 1, "the cut frame is not handed out"
    assert reader.partial == (cut > len(data) - len(last))


def test_an_oversized_length_is_refused_from_the_header_alone() -> None:
    reader = FrameReader(limit_bytes=1024)
    with pytest.raises(FrameError, match="past the limit"):
        reader.feed(struct.pack(">I", 1025))  # no body sent: nothing is buffered for it


def test_a_frame_past_the_limit_is_never_made() -> None:
    with pytest.raises(FrameError, match="past the limit"):
        frames.message("kv", bytes(frames.MAX_FRAME_BYTES))


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (b"", "an empty frame"),
        (b"\x07abc", "unknown frame kind 7"),
        (b"\x01kv1", "without this protocol's magic"),
        (b"\x01" + frames.MAGIC + b"\xff\xfe", "a node id that is not UTF-8"),
        (b"\x02\x00", "too short for its group"),
        (b"\x02\x00\x09kv", "shorter than its group's length"),
        (b"\x02\x00\x02\xc3\x28", "a group id that is not UTF-8"),
    ],
)
def test_a_garbled_frame_is_refused_saying_what(body: bytes, refusal: str) -> None:
    with pytest.raises(FrameError, match=refusal):
        FrameReader().feed(struct.pack(">I", len(body)) + body)


@given(st.binary(max_size=200))
def test_random_bytes_give_frames_or_a_frame_error_and_nothing_else(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        FrameReader(limit_bytes=4096).feed(data)
