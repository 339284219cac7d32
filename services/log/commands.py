"""What travels through the log broker's Raft logs, and the limits requests must respect."""

from __future__ import annotations

import re

from services.replicated.codec import decode as decode  # re-exported: commands.decode
from services.replicated.codec import encode as encode
from services.runtime.errors import InvalidArgument

TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,200}")
MAX_PARTITIONS = 256
MAX_REPLICATION = 3  # the default replication is min(this, log nodes)
MAX_BATCH_RECORDS = 10_000
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
DEFAULT_FETCH_BYTES = 1024 * 1024
MAX_FETCH_WAIT_MS = 60_000
MAX_PRODUCER_NAME_BYTES = 256


def check_topic_name(name: str) -> None:
    if not TOPIC_NAME.fullmatch(name):
        raise InvalidArgument(
            f"topic name {name[:60]!r} must be 1..200 characters of [a-zA-Z0-9._-]"
        )


def check_partitions(partitions: int) -> None:
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise InvalidArgument(f"partitions {partitions} is outside 1..{MAX_PARTITIONS}")


def replication(asked: int, nodes: int) -> int:
    """The replication factor: `asked`, or min(3, nodes) when 0."""
    if asked == 0:
        return min(MAX_REPLICATION, nodes)
    if not 1 <= asked <= nodes:
        raise InvalidArgument(f"replication {asked} is outside 1..{nodes} (the log nodes)")
    return asked


def check_retention(max_records: int, max_bytes: int, max_age_ms: int) -> None:
    for name, value in (
        ("max_records", max_records),
        ("max_bytes", max_bytes),
        ("max_age_ms", max_age_ms),
    ):
        if value < 0:
            raise InvalidArgument(f"retention {name} {value} must be >= 0 (0: unlimited)")


def check_batch(records: list[tuple[bytes, bytes]]) -> None:
    if not records:
        raise InvalidArgument("a produce needs at least one record")
    if len(records) > MAX_BATCH_RECORDS:
        raise InvalidArgument(f"{len(records)} records; a batch holds at most {MAX_BATCH_RECORDS}")
    total = 0
    for i, (key, value) in enumerate(records):
        size = len(key) + len(value)
        if size > MAX_RECORD_BYTES:
            raise InvalidArgument(f"record {i} is {size} bytes; the limit is {MAX_RECORD_BYTES}")
        total += size
    if total > MAX_BATCH_BYTES:
        raise InvalidArgument(f"the batch is {total} bytes; the limit is {MAX_BATCH_BYTES}")


def check_fetch(offset: int, max_bytes: int, max_wait_ms: int) -> None:
    if offset < 0:
        raise InvalidArgument(f"offset {offset} must be >= 0")
    if max_bytes < 0:
        raise InvalidArgument(f"max_bytes {max_bytes} must be >= 0 (0: 1 MiB)")
    if not 0 <= max_wait_ms <= MAX_FETCH_WAIT_MS:
        raise InvalidArgument(f"max_wait_ms {max_wait_ms} is outside 0..{MAX_FETCH_WAIT_MS}")
