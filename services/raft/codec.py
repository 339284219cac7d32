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
        int(m.type),
        m.src,
        m.dst,
        m.term,
        m.index,
        m.log_term,
        [entry_fields(e) for e in m.entries],
        m.commit,
        m.reject,
        snapshot_fields(m.snapshot) if m.snapshot else None,
        m.reject_hint,
        m.context,
    ]
    out: bytes = msgpack.packb(fields, use_bin_type=True)
    return out


def decode_message(data: bytes) -> Message:
    """Raises ValueError for anything that is not an encoded Message, its fields' types
    included: the core trusts what it is handed, so a frame of the right shape with a
    string for a term must stop here, not deep in the core."""
    try:
        f = msgpack.unpackb(data, raw=False)
        kind, src, dst, term, index, log_term, ents, commit, reject, snap, hint, ctx = f
        _require(isinstance(src, str) and isinstance(dst, str), "src and dst are node ids")
        _require(_counts(term, index, log_term, commit, hint), "terms and indexes are >= 0")
        _require(isinstance(reject, bool) and isinstance(ctx, bytes), "reject, context")
        _require(isinstance(ents, list) and all(_entry_shaped(e) for e in ents), "entries")
        _require(snap is None or _snapshot_shaped(snap), "snapshot")
        return Message(
            MessageType(kind),
            src,
            dst,
            term,
            index=index,
            log_term=log_term,
            entries=tuple(entry_from(e) for e in ents),
            commit=commit,
            reject=reject,
            snapshot=snapshot_from(snap) if snap else None,
            reject_hint=hint,
            context=ctx,
        )
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise ValueError(f"not a Raft message: {e}") from e


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"mistyped field: {what}")


def _counts(*values: object) -> bool:
    return all(type(v) is int and v >= 0 for v in values)


def _entry_shaped(e: object) -> bool:
    return (
        isinstance(e, list)
        and len(e) == 4
        and _counts(e[0], e[1], e[2])
        and isinstance(e[3], bytes)
    )


def _snapshot_shaped(s: object) -> bool:
    return (
        isinstance(s, list)
        and len(s) == 4
        and _counts(s[0], s[1])
        and isinstance(s[2], list)
        and all(isinstance(v, str) for v in s[2])
        and isinstance(s[3], bytes)
    )
