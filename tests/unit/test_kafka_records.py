"""Kafka's record batch v2 as the door reads and writes it, against kio's own codec (written
from Kafka's message definitions), every compression codec, and broken batches."""

from __future__ import annotations

import datetime
import gzip
import io
import struct

import cramjam
import pytest
from crc32c import crc32c
from hypothesis import given
from hypothesis import strategies as st
from kio.records.readers import read_batch
from kio.records.schema import NewRecordBatch, Record, RecordHeader
from kio.records.writers import write_batch as kio_write_batch

from services.log.kafka.records import (
    HEADER,
    CorruptBatch,
    KafkaRecord,
    UnsupportedCompression,
    read_batches,
    write_batch,
)

T0_MS = 1_796_371_292_330


def kio_batch(records: list[KafkaRecord], producer_id: int = -1, base_sequence: int = -1) -> bytes:
    out = io.BytesIO()
    kio_write_batch(
        out,
        NewRecordBatch(
            producer_id=producer_id,
            producer_epoch=0 if producer_id >= 0 else -1,
            base_sequence=base_sequence,
            attributes=0,
            records=tuple(
                Record(
                    attributes=0,
                    timestamp=datetime.datetime.fromtimestamp(r.timestamp_ms / 1000, datetime.UTC),
                    offset=i,
                    key=r.key,
                    value=r.value,
                    headers=tuple(RecordHeader(key=k, value=v) for k, v in r.headers),
                )
                for i, r in enumerate(records)
            ),
        ),
    )
    return out.getvalue()


def compressed(batch: bytes, codec: int, squeeze: object) -> bytes:
    """The same batch with its records compressed by `squeeze` and codec bits set."""
    body = squeeze(batch[HEADER.size :])  # type: ignore[operator]
    head = bytearray(batch[: HEADER.size])
    struct.pack_into(">h", head, 21, codec)
    whole = bytes(head) + bytes(body)
    struct.pack_into(">i", head, 8, len(whole) - 12)
    whole = bytes(head) + bytes(body)
    return whole[:17] + struct.pack(">I", crc32c(whole[21:])) + whole[21:]


RECORDS = [
    KafkaRecord(b"k1", b"v1", T0_MS, ((b"h1", b"x"),)),
    KafkaRecord(None, b"v2", T0_MS + 7, ()),
    KafkaRecord(b"k3", None, T0_MS + 3, ((b"h", None),)),
]


def test_a_batch_kio_writes_reads_back_to_the_millisecond() -> None:
    (batch,) = read_batches(kio_batch(RECORDS, producer_id=7, base_sequence=5))
    assert batch.records == tuple(RECORDS)
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (7, 0, 5)
    assert not batch.transactional and not batch.control


def test_a_batch_written_here_is_one_kio_reads() -> None:
    data = write_batch(40, RECORDS)
    batch, size = read_batch(data, 0)
    assert size == len(data)
    assert [r.offset for r in batch.records] == [40, 41, 42]
    assert [(r.key, r.value) for r in batch.records] == [(r.key, r.value) for r in RECORDS]
    assert [tuple((h.key, h.value) for h in r.headers) for r in batch.records] == [
        r.headers for r in RECORDS
    ]
    assert batch.max_timestamp == T0_MS + 7


@pytest.mark.parametrize(
    ("codec", "squeeze"),
    [
        (1, gzip.compress),
        (2, lambda b: bytes(cramjam.snappy.compress_raw(b))),
        (3, lambda b: bytes(cramjam.lz4.compress(b))),
        (4, lambda b: bytes(cramjam.zstd.compress(b))),
    ],
    ids=["gzip", "snappy", "lz4", "zstd"],
)
def test_every_kafka_codec_is_read(codec: int, squeeze: object) -> None:
    (batch,) = read_batches(compressed(kio_batch(RECORDS), codec, squeeze))
    assert batch.records == tuple(RECORDS)


def test_snappy_in_the_java_clients_xerial_framing_is_read() -> None:
    def xerial(body: bytes) -> bytes:
        block = bytes(cramjam.snappy.compress_raw(body))
        return b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1) + struct.pack(">i", len(block)) + block

    (batch,) = read_batches(compressed(kio_batch(RECORDS), 2, xerial))
    assert batch.records == tuple(RECORDS)


def test_two_batches_in_one_partition_are_both_read() -> None:
    one = kio_batch(RECORDS[:1])
    two = kio_batch(RECORDS[1:])
    assert [len(b.records) for b in read_batches(one + two)] == [1, 2]


def test_a_codec_kafka_does_not_define_is_refused_as_such() -> None:
    with pytest.raises(UnsupportedCompression):
        read_batches(compressed(kio_batch(RECORDS), 5, lambda b: b))


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],  # truncated
        lambda b: b[:30] + bytes([b[30] ^ 0xFF]) + b[31:],  # a flipped byte: CRC
        lambda b: b[:16] + b"\x01" + b[17:],  # magic 1
        lambda b: b"",  # nothing
        lambda b: b + b"\x00\x00",  # trailing bytes that are no batch
        lambda b: compressed(b, 1, lambda body: b"not gzip"),
    ],
    ids=["truncated", "crc", "magic", "empty", "trailing", "bad-gzip"],
)
def test_a_broken_batch_is_corrupt(damage: object) -> None:
    with pytest.raises(CorruptBatch):
        read_batches(damage(kio_batch(RECORDS)))  # type: ignore[operator]


record = st.builds(
    KafkaRecord,
    st.none() | st.binary(max_size=40),
    st.none() | st.binary(max_size=200),
    st.integers(min_value=0, max_value=2**45),
    st.lists(st.tuples(st.binary(max_size=10), st.none() | st.binary(max_size=10)), max_size=3).map(
        tuple
    ),
)


@given(st.integers(min_value=0, max_value=2**40), st.lists(record, min_size=1, max_size=20))
def test_what_is_written_reads_back_unchanged(base: int, records: list[KafkaRecord]) -> None:
    (batch,) = read_batches(write_batch(base, records))
    assert batch.records == tuple(records)
