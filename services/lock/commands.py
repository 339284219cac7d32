"""The lock commands that travel through the Raft log, and the limits requests must respect.

Commands are msgpack maps (see state.py for each one). Times in them are the leader's:
`now` on its session clock (leader_clock.py), `wall_ms` its wall clock, for people only.
"""

from __future__ import annotations

from services.replicated.codec import decode as decode  # re-exported: commands.decode
from services.replicated.codec import encode as encode
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
