"""What the Kafka door does with what no well-behaved client sends, as Kafka does it: a
request it cannot parse or does not serve closes that connection (ApiVersions at an
unknown version is answered, so a client can pick another); frames larger than Kafka's
socket.request.max.bytes are refused before anything is read; broken record batches,
bad acks, unknown topics and out-of-order idempotent batches get Kafka's error codes and
store nothing. Through all of it the node goes on serving everyone else."""

from __future__ import annotations

import datetime
import random
import struct
from collections.abc import Iterator

import pytest
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.errors import ErrorCode
from kio.schema.init_producer_id.v4.request import InitProducerIdRequest
from kio.schema.metadata.v12.response import MetadataResponsePartition
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData

from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from tests.integration.kafka import kafka_cluster, kcat
from tests.integration.kafka_wire import (
    Wire,
    batch,
    fetch_request,
    led_by_first_replica,
    metadata_request,
)

pytestmark = pytest.mark.integration

PRODUCE, FETCH, METADATA, API_VERSIONS, INIT_PRODUCER_ID = 0, 1, 3, 18, 22
SETTLE_S = 30.0  # election, then the housekeeping round that hands leadership back


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with kafka_cluster(tmp_path_factory.mktemp("kafka-bad")) as cluster:
        kcat(cluster, "-P", "-t", "t", stdin="first\n")  # a topic of one partition
        wait_until(lambda: _settled_leader(cluster, "t"), SETTLE_S, "t led by its first replica")
        yield cluster


def address(log: LocalCluster, broker: int = 1) -> str:
    return log.topology.wire_address(f"log{broker}")


def still_serving(log: LocalCluster) -> None:
    """A fresh connection to every broker is answered."""
    for broker in (1, 2, 3):
        wire = Wire(address(log, broker))
        try:
            answer = wire.call(
                API_VERSIONS,
                3,
                ApiVersionsRequest(client_software_name="t", client_software_version="1"),
            )
            assert answer.error_code == ErrorCode.none
        finally:
            wire.close()


def _metadata(log: LocalCluster, broker: int, topic: str) -> MetadataResponsePartition | None:
    """Partition 0 as `broker` describes it; None while its metadata does not know the
    topic yet (a broker's copy may lag the one that created it)."""
    wire = Wire(address(log, broker))
    try:
        answer = wire.call(METADATA, 12, metadata_request(topic))
    finally:
        wire.close()
    partitions: tuple[MetadataResponsePartition, ...] = answer.topics[0].partitions
    return partitions[0] if partitions else None


def _settled_leader(log: LocalCluster, topic: str) -> int | None:
    """Partition 0's leader once it is its first (preferred) replica as every broker sees
    it. Until then the election's winner hands leadership to that replica when the log's
    housekeeping next looks (Kafka's auto leader rebalance): a test asking the winner
    would be answered NOT_LEADER_OR_FOLLOWER mid-way, as a Kafka client is after a
    rebalance, and these tests are about other answers."""
    views = [_metadata(log, broker, topic) for broker in (1, 2, 3)]
    settled = [v for v in views if v is not None and led_by_first_replica(v)]
    if len(settled) < len(views) or len({v.leader_id for v in settled}) != 1:
        return None
    leader: int = settled[0].leader_id
    return leader


def leader_of(log: LocalCluster, topic: str) -> tuple[int, int]:
    """(leader broker id, a broker that is not the leader) of partition 0, settled."""
    leader = wait_until(lambda: _settled_leader(log, topic), SETTLE_S, f"{topic} led")
    return leader, next(b for b in (1, 2, 3) if b != leader)


def produce(
    log: LocalCluster,
    broker: int,
    records: bytes,
    topic: str = "t",
    partition: int = 0,
    acks: int = -1,
) -> tuple[ErrorCode, int]:
    wire = Wire(address(log, broker))
    try:
        request = ProduceRequest(
            acks=acks,
            timeout=datetime.timedelta(seconds=10),
            topic_data=(
                TopicProduceData(
                    name=topic,
                    partition_data=(PartitionProduceData(index=partition, records=records),),
                ),
            ),
        )
        answer = wire.call(PRODUCE, 9, request)
    finally:
        wire.close()
    p = answer.responses[0].partition_responses[0]
    return p.error_code, p.base_offset


def high_watermark(log: LocalCluster, broker: int, offset: int = 0) -> tuple[ErrorCode, int]:
    wire = Wire(address(log, broker))
    try:
        request = fetch_request("t", 0, offset)
        answer = wire.call(FETCH, 12, request)
    finally:
        wire.close()
    p = answer.responses[0].partitions[0]
    return p.error_code, p.high_watermark


# -- frames the door closes the connection on -----------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        struct.pack(">ihhi", 8, 999, 0, 1),  # an API key Kafka does not have
        struct.pack(">ihhi", 8, 23, 4, 1),  # OffsetForLeaderEpoch: Kafka's, not served here
        struct.pack(">ihhi", 8, PRODUCE, 2, 1),  # Produce below the lowest version offered
        struct.pack(">ihhi", 8, PRODUCE, 99, 1),  # and above the highest
        struct.pack(">ihhih", 12, METADATA, 12, 1, 40) + b"\x00\x01",  # a body cut short
        struct.pack(">i", 100) + random.Random(7).randbytes(100),  # random bytes
        struct.pack(">i", 0x7FFFFFFF),  # a frame claiming 2 GiB
        struct.pack(">i", -1),  # a negative size
        struct.pack(">i", 2),  # too short for a header
    ],
    ids=[
        "unknown-key",
        "unserved-key",
        "below-min",
        "above-max",
        "truncated-body",
        "random",
        "2GiB",
        "negative",
        "tiny",
    ],
)
def test_a_request_that_cannot_be_answered_closes_only_its_connection(
    log: LocalCluster, frame: bytes
) -> None:
    wire = Wire(address(log))
    try:
        wire.send_raw(frame)
        assert wire.closed_by_broker()
    finally:
        wire.close()
    still_serving(log)


def test_a_frame_cut_off_by_its_client_is_dropped(log: LocalCluster) -> None:
    wire = Wire(address(log))
    wire.send_raw(struct.pack(">i", 100) + b"\x00" * 10)
    wire.close()
    still_serving(log)


def test_api_versions_at_an_unknown_version_answers_v0_with_the_versions_served(
    log: LocalCluster,
) -> None:
    wire = Wire(address(log))
    try:
        frame = struct.pack(">hhih", API_VERSIONS, 99, 5, 1) + b"x" + b"\x00"
        wire.send_raw(struct.pack(">i", len(frame)) + frame)
        data = wire.read_frame()
        assert data is not None
        correlation, error, count = struct.unpack_from(">ihi", data)
        assert (correlation, error) == (5, ErrorCode.unsupported_version.value)
        served = {
            struct.unpack_from(">hhh", data, 10 + 6 * i)[0]: struct.unpack_from(
                ">hhh", data, 10 + 6 * i
            )[1:]
            for i in range(count)
        }
        assert served[API_VERSIONS] == (0, 3)
        assert served[PRODUCE] == (3, 9)
    finally:
        wire.close()


# -- requests answered with Kafka's error codes ----------------------------------------------


def test_a_batch_whose_crc_does_not_match_is_corrupt_and_not_stored(log: LocalCluster) -> None:
    leader, _ = leader_of(log, "t")
    _, before = high_watermark(log, leader)
    good = batch([b"x"])
    bad = good[:-1] + bytes([good[-1] ^ 0x55])
    assert produce(log, leader, bad)[0] == ErrorCode.corrupt_message
    assert produce(log, leader, good[:-3])[0] == ErrorCode.corrupt_message  # truncated
    assert high_watermark(log, leader) == (ErrorCode.none, before)


def test_a_batch_over_message_max_bytes_is_too_large_and_not_stored(log: LocalCluster) -> None:
    leader, _ = leader_of(log, "t")
    _, before = high_watermark(log, leader)
    assert produce(log, leader, batch([b"x" * 1_100_000]))[0] == ErrorCode.message_too_large
    assert high_watermark(log, leader) == (ErrorCode.none, before)


def test_acks_other_than_0_1_or_all_are_refused(log: LocalCluster) -> None:
    leader, _ = leader_of(log, "t")
    assert produce(log, leader, batch([b"x"]), acks=2)[0] == ErrorCode.invalid_required_acks


def test_an_unknown_topic_or_partition_is_refused(log: LocalCluster) -> None:
    leader, _ = leader_of(log, "t")
    assert (
        produce(log, leader, batch([b"x"]), topic="never-made")[0]
        == ErrorCode.unknown_topic_or_partition
    )
    assert (
        produce(log, leader, batch([b"x"]), partition=7)[0] == ErrorCode.unknown_topic_or_partition
    )


def test_a_follower_sends_producers_and_consumers_to_the_leader(log: LocalCluster) -> None:
    _, follower = leader_of(log, "t")
    assert produce(log, follower, batch([b"x"]))[0] == ErrorCode.not_leader_or_follower
    assert high_watermark(log, follower)[0] == ErrorCode.not_leader_or_follower


def test_a_fetch_past_the_end_is_out_of_range(log: LocalCluster) -> None:
    leader, _ = leader_of(log, "t")
    _, end = high_watermark(log, leader)
    assert high_watermark(log, leader, end + 10)[0] == ErrorCode.offset_out_of_range


def test_idempotent_batches_retried_are_written_once_and_gaps_refused(log: LocalCluster) -> None:
    wire = Wire(address(log))
    try:
        init = wire.call(
            INIT_PRODUCER_ID,
            4,
            InitProducerIdRequest(
                transactional_id=None,
                transaction_timeout=datetime.timedelta(seconds=60),
                producer_id=-1,
                producer_epoch=-1,
            ),
        )
    finally:
        wire.close()
    assert init.error_code == ErrorCode.none and init.producer_epoch == 0
    pid = init.producer_id
    leader, _ = leader_of(log, "t")
    code, first = produce(log, leader, batch([b"a", b"b"], pid, 0))
    assert code == ErrorCode.none and first >= 0
    assert produce(log, leader, batch([b"a", b"b"], pid, 0)) == (ErrorCode.none, first)  # a retry
    assert produce(log, leader, batch([b"c"], pid, 5))[0] == ErrorCode.out_of_order_sequence_number
    assert produce(log, leader, batch([b"c"], pid, 2)) == (ErrorCode.none, first + 2)
    assert high_watermark(log, leader)[1] == first + 3
