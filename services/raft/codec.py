"""msgpack encodings of the core's values: one codec for the wire and the disk."""

from __future__ import annotations

from typing import Any

import msgpack

from services.raft.messages import Entry, EntryKind, Message, MessageType, Snapshot


def entry_fields(e: Entry) -> list[Any]:
    return [e.term, e.index, int(e.kind), e.data]


def entry_from(fields: list[Any]) -> Entry:
    term, index, kind, data = fields
    return Entry(term, index, data, EntryKind(kind))


def snapshot_fields(s: Snapshot) -> list[Any]:
    return [s.index, s.term, list(s.voters), s.data]


def snapshot_from(fields: list[Any]) -> Snapshot:
    index, term, voters, data = fields
    return Snapshot(index, term, tuple(voters), data)


def encode_message(m: Message) -> bytes:
    fields = [
        int(m.type), m.src, m.dst, m.term, m.index, m.log_term,
        [entry_fields(e) for e in m.entries], m.commit, m.reject,
        snapshot_fields(m.snapshot) if m.snapshot else None, m.reject_hint, m.context,
    ]  # fmt: skip
    out: bytes = msgpack.packb(fields, use_bin_type=True)
    return out


def decode_message(data: bytes) -> Message:
    """Raises ValueError for anything that is not an encoded Message."""
    try:
        f = msgpack.unpackb(data, raw=False)
        kind, src, dst, term, index, log_term, ents, commit, reject, snap, hint, ctx = f
        return Message(
            MessageType(kind), src, dst, term, index=index, log_term=log_term,
            entries=tuple(entry_from(e) for e in ents), commit=commit, reject=reject,
            snapshot=snapshot_from(snap) if snap else None, reject_hint=hint, context=ctx,
        )  # fmt: skip
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise ValueError(f"not a Raft message: {e}") from e
