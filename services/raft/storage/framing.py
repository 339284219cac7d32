"""Records on disk: [u32 length][u32 crc32][msgpack payload], little-endian.

A crash mid-write leaves a torn tail: a short header, a short payload, a CRC that does
not match, or zeros (the file's new size reached the disk, its data did not; an all-zero
header would pass the CRC check of an empty payload, and no record is empty).
`read_records` stops at the first such record and reports where the good prefix ends, so
recovery can truncate there.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import msgpack

HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 64 * 1024 * 1024


def encode(record: Any) -> bytes:
    payload: bytes = msgpack.packb(record, use_bin_type=True)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_records(data: bytes) -> Iterator[tuple[Any, int]]:
    """Yield (record, offset just past it) for each good record, stopping at a torn one."""
    offset = 0
    while offset + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, offset)
        start, end = offset + HEADER.size, offset + HEADER.size + length
        if length == 0 or length > MAX_RECORD_BYTES or end > len(data):
            return
        payload = data[start:end]
        if zlib.crc32(payload) != crc:
            return
        yield msgpack.unpackb(payload, raw=False), end
        offset = end
