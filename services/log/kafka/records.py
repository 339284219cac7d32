"""Kafka's record batch (magic 2, KIP-98): read what producers send, write what consumers
fetch.

kio (the protocol library the door uses for every request and response) reads batches
too, but rounds record timestamps down to whole seconds and does not decompress; a
producer's CreateTime must come back to its consumers to the millisecond, and franz-go
compresses with snappy by default. So batches are read and written here, with kio's
native varint readers, crc32c's CRC-32C and cramjam's codecs.

    baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
    attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
    producerId i64 | producerEpoch i16 | baseSequence i32 | count i32 | records...

The CRC covers everything from attributes on. Records travel compressed as a whole
(attributes & 7); what faultlab stores, and fetches answer with, is uncompressed.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import cramjam
from crc32c import crc32c
from kio.serial.errors import BufferUnderflow
from kio.serial.readers import read_signed_varint, read_signed_varlong

MAGIC = 2
HEADER = struct.Struct(">qiibIhiqqqhii")  # through the record count: 61 bytes
CRC_START = 21  # the CRC covers the batch from `attributes` (this offset) to its end
LENGTH_START = 12  # batchLength counts the bytes after itself
COMPRESSION_MASK = 0x07
TRANSACTIONAL = 0x10
CONTROL = 0x20
NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
XERIAL_MAGIC = b"\x82SNAPPY\x00"

Header = tuple[bytes, bytes | None]


class CorruptBatch(ValueError):
    """The bytes are not a record batch: wrong magic, CRC or lengths (CORRUPT_MESSAGE)."""


class UnsupportedCompression(ValueError):
    """A compression codec Kafka does not define (UNSUPPORTED_COMPRESSION_TYPE)."""


@dataclass(frozen=True)
class KafkaRecord:
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[Header, ...] = ()


@dataclass(frozen=True)
class Batch:
    """A produced batch, decompressed; its offsets are the broker's to assign."""

    producer_id: int
    producer_epoch: int
    base_sequence: int
    transactional: bool
    control: bool
    records: tuple[KafkaRecord, ...]
    size_bytes: int  # as sent, compressed or not (message.max.bytes applies to this)


def read_batches(data: bytes) -> list[Batch]:
    """Every batch in a produce request's `records` field. CorruptBatch or
    UnsupportedCompression when the bytes do not hold well-formed batches."""
    batches = []
    at = 0
    while at < len(data):
        if len(data) - at < HEADER.size:
            raise CorruptBatch(f"{len(data) - at} bytes left: too few for a batch header")
        length = struct.unpack_from(">i", data, at + 8)[0]
        end = at + LENGTH_START + length
        if length < HEADER.size - LENGTH_START or end > len(data):
            raise CorruptBatch(f"batch length {length} does not fit the {len(data)} bytes sent")
        batches.append(_read_batch(memoryview(data)[at:end]))
        at = end
    if not batches:
        raise CorruptBatch("no record batch")
    return batches


def _read_batch(view: memoryview) -> Batch:
    (
        _base_offset,
        _length,
        _leader_epoch,
        magic,
        crc,
        attributes,
        last_offset_delta,
        base_timestamp,
        _max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    ) = HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise CorruptBatch(f"record batch magic {magic}; only magic 2 is accepted")
    if crc32c(view[CRC_START:]) != crc:
        raise CorruptBatch("record batch CRC-32C does not match its contents")
    if count < 0 or count != last_offset_delta + 1:
        raise CorruptBatch(f"{count} records but lastOffsetDelta {last_offset_delta}")
    body = _decompressed(attributes & COMPRESSION_MASK, view[HEADER.size :])
    records = _read_records(body, count, base_timestamp)
    return Batch(
        producer_id,
        producer_epoch,
        base_sequence,
        bool(attributes & TRANSACTIONAL),
        bool(attributes & CONTROL),
        records,
        len(view),
    )


def _decompressed(codec: int, body: memoryview) -> bytes:
    try:
        if codec == 0:
            return bytes(body)
        if codec == 1:
            return zlib.decompress(body, wbits=zlib.MAX_WBITS | 32)  # gzip or zlib header
        if codec == 2:
            return _snappy(bytes(body))
        if codec == 3:
            return bytes(cramjam.lz4.decompress(body))  # the LZ4 frame format
        if codec == 4:
            return bytes(cramjam.zstd.decompress(body))
    except (zlib.error, cramjam.DecompressionError, ValueError) as e:
        raise CorruptBatch(f"records do not decompress: {e}") from e
    raise UnsupportedCompression(f"compression codec {codec} is not one Kafka defines")


def _snappy(body: bytes) -> bytes:
    """Raw snappy, or the xerial framing the Java client writes (a 16-byte header, then
    length-prefixed raw snappy blocks)."""
    if not body.startswith(XERIAL_MAGIC):
        return bytes(cramjam.snappy.decompress_raw(body))
    out = bytearray()
    at = 16
    while at < len(body):
        (size,) = struct.unpack_from(">i", body, at)
        at += 4
        out += bytes(cramjam.snappy.decompress_raw(body[at : at + size]))
        at += size
    return bytes(out)


def _read_records(body: bytes, count: int, base_timestamp: int) -> tuple[KafkaRecord, ...]:
    records = []
    at = 0
    try:
        for _ in range(count):
            length, n = read_signed_varint(body, at)
            at += n
            end = at + length
            if length < 0 or end > len(body):
                raise CorruptBatch(f"record length {length} runs past the batch")
            at += 1  # attributes: unused
            ts_delta, n = read_signed_varlong(body, at)
            at += n
            _offset_delta, n = read_signed_varint(body, at)
            at += n
            key, at = _bytes(body, at)
            value, at = _bytes(body, at)
            header_count, n = read_signed_varint(body, at)
            at += n
            headers = []
            for _ in range(max(header_count, 0)):
                name, at = _bytes(body, at)
                header_value, at = _bytes(body, at)
                if name is None:
                    raise CorruptBatch("a record header has a null key")
                headers.append((name, header_value))
            if at != end:
                raise CorruptBatch("a record's fields do not add up to its length")
            records.append(KafkaRecord(key, value, base_timestamp + ts_delta, tuple(headers)))
    except BufferUnderflow as e:
        raise CorruptBatch("records end before their count") from e
    if at != len(body):
        raise CorruptBatch("bytes left after the batch's last record")
    return tuple(records)


def _bytes(body: bytes, at: int) -> tuple[bytes | None, int]:
    length, n = read_signed_varint(body, at)
    at += n
    if length < 0:
        return None, at
    if at + length > len(body):
        raise CorruptBatch("a record field runs past the batch")
    return body[at : at + length], at + length


# -- writing ---------------------------------------------------------------------------------


def write_batch(base_offset: int, records: list[KafkaRecord]) -> bytes:
    """One uncompressed batch of committed records at base_offset.. (consecutive)."""
    base_ts = records[0].timestamp_ms
    body = io.BytesIO()
    for delta, r in enumerate(records):
        body.write(_record(delta, r.timestamp_ms - base_ts, r))
    tail = (
        struct.pack(
            ">hiqqqhii",
            0,  # attributes: uncompressed, CreateTime, not transactional
            len(records) - 1,
            base_ts,
            max(r.timestamp_ms for r in records),
            NO_PRODUCER_ID,
            -1,
            NO_SEQUENCE,
            len(records),
        )
        + body.getvalue()
    )
    # -1: no partition leader epoch (consumers then skip epoch validation)
    head = struct.pack(">qiibI", base_offset, len(tail) + 9, -1, MAGIC, crc32c(tail))
    return head + tail


def _record(offset_delta: int, ts_delta: int, r: KafkaRecord) -> bytes:
    out = bytearray(b"\x00")  # attributes
    out += _varint(ts_delta)
    out += _varint(offset_delta)
    _put_bytes(out, r.key)
    _put_bytes(out, r.value)
    out += _varint(len(r.headers))
    for name, value in r.headers:
        _put_bytes(out, name)
        _put_bytes(out, value)
    return bytes(_varint(len(out)) + out)


def _put_bytes(out: bytearray, value: bytes | None) -> None:
    if value is None:
        out += _varint(-1)
    else:
        out += _varint(len(value))
        out += value


def _varint(value: int) -> bytearray:
    """Zig-zag, then base 128 (protobuf's sint64 encoding, as Kafka's records use)."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return out
