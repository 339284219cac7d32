"""The lock commands that travel through the Raft log, and the limits requests must respect.

    create     Create(ttl_ms, owner, now)                  -> SessionCreated
    keepalive  KeepAlive(session, now)                     -> KeptAlive
    close      Close(session, wall_ms)                     -> Closed
    acquire    Acquire(session, name, wait, wall_ms)       -> Acquired (maybe queued)
    cancel     Cancel(session, name, wall_ms)              -> Cancelled (left the queue)
    release    Release(session, name, wall_ms)             -> Released
    lead       Lead()                                      -> InOffice
    expire     Expire(sessions, now, wall_ms)              -> Expired

A command on a session may be refused (results.py) and changes nothing then. close,
acquire, cancel and release may carry a `seq`: a retry with the session's last seq gets
the first answer without applying again (Raft thesis §6.3). Times are the leader's: `now`
on its session clock (services/replicated/leader_clock.py), `wall_ms` its wall clock, for
people only.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, TypeAlias

from services.replicated.codec import Codec, Tagged
from services.runtime.errors import InvalidArgument

MAX_NAME_BYTES = 512
MAX_OWNER_BYTES = 256
MIN_TTL_MS = 500  # a few heartbeats: below this a keep-alive could not arrive in time
MAX_TTL_MS = 300_000


def check_name(name: str) -> None:
    if not name:
        raise InvalidArgument("lock name must not be empty")
    size = len(name.encode())
    if size > MAX_NAME_BYTES:
        raise InvalidArgument(f"lock name is {size} bytes; the limit is {MAX_NAME_BYTES}")


def check_ttl(ttl_ms: int) -> None:
    if not MIN_TTL_MS <= ttl_ms <= MAX_TTL_MS:
        raise InvalidArgument(f"ttl_ms {ttl_ms} is outside {MIN_TTL_MS}..{MAX_TTL_MS}")


def check_owner(owner: str) -> None:
    size = len(owner.encode())
    if size > MAX_OWNER_BYTES:
        raise InvalidArgument(f"owner is {size} bytes; the limit is {MAX_OWNER_BYTES}")


def check_session(session_id: int) -> None:
    if session_id == 0:
        raise InvalidArgument("session_id is required (CreateSession returns one)")


class LockOp(enum.StrEnum):
    CREATE = "create"
    KEEPALIVE = "keepalive"
    CLOSE = "close"
    ACQUIRE = "acquire"
    CANCEL = "cancel"
    RELEASE = "release"
    LEAD = "lead"
    EXPIRE = "expire"


@dataclasses.dataclass(frozen=True)
class Create(Tagged):
    TAG = LockOp.CREATE
    ttl_ms: int
    owner: str
    now: int


@dataclasses.dataclass(frozen=True)
class Lead(Tagged):
    """A new leader's first command: every session gets at least one TTL past the log's
    clock before that leader may expire any (Chubby's grace period)."""

    TAG = LockOp.LEAD


@dataclasses.dataclass(frozen=True)
class Expire(Tagged):
    TAG = LockOp.EXPIRE
    sessions: tuple[int, ...]
    now: int
    wall_ms: int

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Expire:
        return cls(tuple(m["sessions"]), m["now"], m["wall_ms"])


@dataclasses.dataclass(frozen=True)
class OnSession(Tagged):
    """A command on one session; `seq` (0: none) makes a retry answer, not apply."""

    session: int
    seq: int = dataclasses.field(default=0, kw_only=True)


@dataclasses.dataclass(frozen=True)
class KeepAlive(OnSession):
    TAG = LockOp.KEEPALIVE
    now: int


@dataclasses.dataclass(frozen=True)
class Close(OnSession):
    TAG = LockOp.CLOSE
    wall_ms: int


@dataclasses.dataclass(frozen=True)
class Acquire(OnSession):
    TAG = LockOp.ACQUIRE
    name: str
    wait: bool  # held by another: join the queue rather than answer "not acquired"
    wall_ms: int


@dataclasses.dataclass(frozen=True)
class Cancel(OnSession):
    TAG = LockOp.CANCEL
    name: str
    wall_ms: int


@dataclasses.dataclass(frozen=True)
class Release(OnSession):
    TAG = LockOp.RELEASE
    name: str
    wall_ms: int


LockCommand: TypeAlias = Create | Lead | Expire | KeepAlive | Close | Acquire | Cancel | Release
COMMANDS: Codec[LockCommand] = Codec(
    "op", Create, Lead, Expire, KeepAlive, Close, Acquire, Cancel, Release
)
encode = COMMANDS.encode
decode = COMMANDS.decode
