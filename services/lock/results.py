"""What the lock state machine answers: a typed result per command, or a Refusal.

A session's last answer is kept for its retry (`seq`), so results are in snapshots too:
written by RESULTS (tagged maps), read from format 0's untagged dicts by `from_format0`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeAlias

from faultlab.errors.v1 import errors_pb2

from services.replicated.codec import Codec, Tagged
from services.replicated.refusal import Refusal

# Every reason the lock state machine refuses with (tests/unit/test_refusals.py maps each).
REFUSES = (
    errors_pb2.UNKNOWN_SESSION,
    errors_pb2.SESSION_EXPIRED,
    errors_pb2.NOT_HOLDER,
    errors_pb2.INVALID,
)


@dataclasses.dataclass(frozen=True)
class SessionCreated(Tagged):
    TAG = "created"
    session: int  # the id: the index of the command that created it


@dataclasses.dataclass(frozen=True)
class KeptAlive(Tagged):
    TAG = "kept_alive"
    ttl_ms: int


@dataclasses.dataclass(frozen=True)
class Closed(Tagged):
    TAG = "closed"
    released: tuple[str, ...]

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Closed:
        return cls(tuple(m["released"]))


@dataclasses.dataclass(frozen=True)
class Acquired(Tagged):
    """`acquired` with the grant's fencing token; else who holds it, and whether this
    session now waits in its queue."""

    TAG = "acquired"
    acquired: bool
    token: int
    holder: int
    queued: bool = False


@dataclasses.dataclass(frozen=True)
class Cancelled(Tagged):
    """Left the queue; or, granted meanwhile, holds the lock (`acquired`, `token`)."""

    TAG = "cancelled"
    acquired: bool
    token: int


@dataclasses.dataclass(frozen=True)
class Released(Tagged):
    """Freed; the next holder from the queue, if any (0: none), and its token."""

    TAG = "released"
    next_session: int
    next_token: int


@dataclasses.dataclass(frozen=True)
class InOffice(Tagged):
    TAG = "in_office"
    clock: int  # the log's session clock as of the new leader's `lead`


@dataclasses.dataclass(frozen=True)
class Expired(Tagged):
    TAG = "expired"
    expired: tuple[int, ...]

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Expired:
        return cls(tuple(m["expired"]))


LockResult: TypeAlias = (
    SessionCreated
    | KeptAlive
    | Closed
    | Acquired
    | Cancelled
    | Released
    | InOffice
    | Expired
    | Refusal
)
RESULTS: Codec[LockResult] = Codec(
    "t",
    SessionCreated,
    KeptAlive,
    Closed,
    Acquired,
    Cancelled,
    Released,
    InOffice,
    Expired,
    Refusal,
)


def from_map(m: Mapping[str, Any]) -> LockResult:
    """A kept answer as a snapshot holds it: tagged (format 1), or format 0's dict."""
    return RESULTS.from_map(m) if "t" in m else from_format0(m)


def from_format0(m: Mapping[str, Any]) -> LockResult:
    """Format 0 kept a session's last answer (acquire, cancel, release, close) as the dict
    apply returned, told apart by its keys; a refusal kept there was not_holder."""
    if m.get("error") == "not_holder":
        return Refusal(
            errors_pb2.NOT_HOLDER,
            "this session does not hold the lock; nothing changed",
            {"holder": str(m["holder"])},
        )
    if "error" in m:
        raise ValueError(f"format 0 kept no {m['error']!r} refusal in a session")
    if "holder" in m:
        return Acquired(m["acquired"], m["token"], m["holder"], m.get("queued", False))
    if "acquired" in m:
        return Cancelled(m["acquired"], m["token"])
    if "next_session" in m:
        return Released(m["next_session"], m["next_token"])
    return Closed(tuple(m["released"]))


# -- the lock state machine's refusals, each written once ------------------------------------


def unknown_session(session_id: int) -> Refusal:
    return Refusal(
        errors_pb2.UNKNOWN_SESSION,
        f"no session {session_id} was ever created; call CreateSession",
    )


def session_expired(session_id: int) -> Refusal:
    return Refusal(
        errors_pb2.SESSION_EXPIRED,
        f"session {session_id} expired or was closed, and its locks were released; "
        "create a new session",
    )


def not_holder(session_id: int, name: str, holder: int) -> Refusal:
    held_by = f"session {holder} holds it" if holder else "nobody holds it"
    return Refusal(
        errors_pb2.NOT_HOLDER,
        f"session {session_id} does not hold {name!r} ({held_by}); nothing changed",
        {"holder": str(holder)},
    )


def stale_seq(last_seq: int) -> Refusal:
    return Refusal(errors_pb2.INVALID, f"seq is below this session's last, {last_seq}")
