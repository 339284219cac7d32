"""The KV commands that travel through the Raft log, and the limits they must respect."""

from __future__ import annotations

from services.replicated.codec import decode as decode  # re-exported: commands.decode
from services.replicated.codec import encode as encode
from services.runtime.errors import InvalidArgument

MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 1024 * 1024
MAX_RANGE_LIMIT = 10_000
DEFAULT_RANGE_LIMIT = 1000


def check_key(key: str, what: str = "key") -> None:
    if not key:
        raise InvalidArgument(f"{what} must not be empty")
    size = len(key.encode())
    if size > MAX_KEY_BYTES:
        raise InvalidArgument(f"{what} is {size} bytes; the limit is {MAX_KEY_BYTES}")


def check_value(value: bytes) -> None:
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidArgument(f"value is {len(value)} bytes; the limit is {MAX_VALUE_BYTES}")


def check_prefix(prefix: str) -> None:
    if len(prefix.encode()) > MAX_KEY_BYTES:
        raise InvalidArgument(f"prefix is longer than {MAX_KEY_BYTES} bytes")


def range_limit(limit: int) -> int:
    if limit < 0 or limit > MAX_RANGE_LIMIT:
        raise InvalidArgument(f"limit {limit} is outside 0..{MAX_RANGE_LIMIT} (0: default)")
    return limit or DEFAULT_RANGE_LIMIT
