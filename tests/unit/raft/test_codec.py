"""The wire codec: every message the core makes comes back equal, and a frame that is not
one (garbage, truncated, or the right shape with the wrong types) is a ValueError, never a
Message the core would trust."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.raft.codec import decode_message, encode_message
from services.raft.messages import Entry, EntryKind, Message, MessageType, Snapshot

counts = st.integers(0, 2**63 - 1)
ids = st.text(min_size=1, max_size=8)
entries = st.builds(Entry, counts, counts, st.binary(max_size=16), st.sampled_from(EntryKind))
snapshots = st.builds(
    Snapshot, counts, counts, st.lists(ids, max_size=3).map(tuple), st.binary(max_size=16)
)
messages = st.builds(
    Message,
    st.sampled_from(MessageType),
    ids,
    ids,
    counts,
    index=counts,
    log_term=counts,
    entries=st.lists(entries, max_size=3).map(tuple),
    commit=counts,
    reject=st.booleans(),
    snapshot=st.none() | snapshots,
    reject_hint=counts,
    context=st.binary(max_size=8),
)


@given(messages)
def test_every_message_comes_back_equal(m: Message) -> None:
    assert decode_message(encode_message(m)) == m


@given(messages, st.data())
def test_a_truncated_frame_is_refused(m: Message, data: st.DataObject) -> None:
    frame = encode_message(m)
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(ValueError):
        decode_message(frame[:cut])


@given(st.binary(max_size=64))
def test_random_bytes_are_refused_or_a_well_typed_message(raw: bytes) -> None:
    try:
        m = decode_message(raw)
    except ValueError:
        return
    assert isinstance(m.src, str) and isinstance(m.term, int) and m.term >= 0


@pytest.mark.parametrize(
    "field, bad",
    [
        (1, 7),
        (3, "3"),
        (3, -1),
        (4, 1.5),
        (6, [[1, 1, 0, "text"]]),
        (6, [[1]]),
        (8, 1),
        (9, [1, 1, [2], b""]),
        (11, "ctx"),
        (3, True),
    ],
)
def test_the_right_shape_with_a_wrong_type_is_refused(field: int, bad: object) -> None:
    fields = msgpack.unpackb(encode_message(Message(MessageType.HEARTBEAT, "a", "b", 1)))
    fields[field] = bad
    with pytest.raises(ValueError):
        decode_message(msgpack.packb(fields, use_bin_type=True))
