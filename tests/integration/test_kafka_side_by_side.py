"""The same Kafka clients and requests against faultlab's log nodes and a real Apache Kafka
(4.1, KRaft, started here from Maven Central's jars), with the same observable results
where Kafka defines them: where librdkafka's records land (partitions, offsets), what a
reader and a group see, the offsets a group commits, and the error codes (and texts
Kafka fixes) for bad requests. Differences a user cannot act on (broker ids, member ids,
a cluster's size) are left out of the comparison."""

from __future__ import annotations

import dataclasses
import datetime
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kio.schema.create_topics.v7.request import CreatableTopic, CreateTopicsRequest
from kio.schema.errors import ErrorCode
from kio.schema.find_coordinator.v4.request import FindCoordinatorRequest
from kio.schema.heartbeat.v4.request import HeartbeatRequest
from kio.schema.init_producer_id.v4.request import InitProducerIdRequest
from kio.schema.join_group.v7.request import JoinGroupRequest, JoinGroupRequestProtocol
from kio.schema.list_offsets.v7.request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kio.schema.offset_commit.v8.request import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData
from kio.schema.sync_group.v5.request import SyncGroupRequest

from cluster import kafka_peer
from cluster.waiting import wait_until
from tests.integration.kafka import history, kafka_cluster, real_kafka, workload
from tests.integration.kafka_wire import (
    Wire,
    batch,
    fetch_request,
    led_by_first_replica,
    metadata_request,
)

pytestmark = pytest.mark.integration

TOPIC = "sbs"
RUN_S = 120.0


@dataclass
class Target:
    name: str
    bootstrap: str

    def wire(self, address: str | None = None) -> Wire:
        return Wire(address or self.bootstrap.split(",")[0])

    def call(self, api_key: int, version: int, request: Any, address: str | None = None) -> Any:
        wire = self.wire(address)
        try:
            return wire.call(api_key, version, request)
        finally:
            wire.close()

    def metadata(self, topic: str) -> Any:
        return self.call(3, 12, metadata_request(topic))

    def leader(self, topic: str, partition: int = 0) -> str:
        """The address of the partition's leader, as Metadata names it."""
        answer = self.metadata(topic)
        brokers = {b.node_id: f"{b.host}:{b.port}" for b in answer.brokers}
        return brokers[answer.topics[0].partitions[partition].leader_id]

    def led_by_preferred(self, topic: str, partition: int) -> bool:
        return led_by_first_replica(self.metadata(topic).topics[0].partitions[partition])

    def coordinator(self) -> str:
        answer = self.call(10, 4, FindCoordinatorRequest(key_type=0, coordinator_keys=("g-x",)))
        (c,) = answer.coordinators
        return f"{c.host}:{c.port}"


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Target]]:
    real_kafka()
    with (
        kafka_cluster(tmp_path_factory.mktemp("faultlab")) as cluster,
        kafka_peer.kafka_cluster(tmp_path_factory.mktemp("kafka")) as kafka,
    ):
        both = [
            Target("faultlab", ",".join(cluster.topology.wire_addresses("log"))),
            Target("kafka", kafka.bootstrap),
        ]
        for t in both:
            create = CreateTopicsRequest(
                topics=(
                    CreatableTopic(
                        name=TOPIC,
                        num_partitions=3,
                        replication_factor=-1,
                        assignments=(),
                        configs=(),
                    ),
                ),
                timeout=datetime.timedelta(seconds=30),
                validate_only=False,
            )
            (made,) = t.call(19, 7, create).topics
            assert made.error_code == ErrorCode.none, (t.name, made)
            _wait_for_leaders(t)
        yield both


def _wait_for_leaders(t: Target) -> None:
    def led() -> bool:
        try:
            return all(t.led_by_preferred(TOPIC, p) for p in range(3))
        except (KeyError, OSError, AssertionError):
            return False

    wait_until(led, 60, f"{t.name}: leaders for {TOPIC}")


def same(targets: list[Target], probe: Callable[[Target], Any]) -> Any:
    """The probe's result on both, asserted equal; that result."""
    results = {t.name: probe(t) for t in targets}
    assert results["faultlab"] == results["kafka"], json.dumps(results, default=str, indent=1)
    return results["kafka"]


def run(t: Target, folder: Path, name: str, *argv: str) -> str:
    w = workload(folder / t.name, name, "confluent", argv[0], t.bootstrap, argv[1], count=60)
    try:
        return w.output(RUN_S)
    finally:
        w.kill()


def test_librdkafka_places_and_reads_every_record_alike(
    targets: list[Target], tmp_path: Path
) -> None:
    def produced_and_read(t: Target) -> dict[str, Any]:
        sent, _ = history(run(t, tmp_path, "producer", "produce", TOPIC))
        read, _ = history(run(t, tmp_path, "reader", "read-all", TOPIC))
        return {
            "sent": sorted((op.input, op.key, op.output) for op in sent),
            "read": sorted((op.key, tuple(op.output)) for op in read),
        }

    result = same(targets, produced_and_read)
    assert len(result["sent"]) == 60

    def ends(t: Target) -> list[tuple[int, int]]:
        out = []
        for p in range(3):
            for ts in (-2, -1):  # earliest, latest
                where = ListOffsetsPartition(
                    partition_index=p, current_leader_epoch=-1, timestamp=ts
                )
                request = ListOffsetsRequest(
                    replica_id=-1,
                    isolation_level=0,
                    topics=(ListOffsetsTopic(name=TOPIC, partitions=(where,)),),
                )
                part = t.call(2, 7, request, t.leader(TOPIC, p)).topics[0].partitions[0]
                out.append((part.error_code.value, part.offset))
        return out

    same(targets, ends)


def test_a_group_of_two_commits_where_the_log_ends(targets: list[Target], tmp_path: Path) -> None:
    def consumed(t: Target) -> dict[str, Any]:
        folder = tmp_path / t.name
        members = [
            workload(folder, f"c{i}", "confluent", "consume", t.bootstrap, TOPIC, group="g2")
            for i in (1, 2)
        ]
        try:

            def all_read() -> bool:
                seen = 0
                for m in members:
                    for line in m.written().splitlines():
                        event = json.loads(line)
                        if event.get("f") == "poll" and event.get("type") == "ok":
                            seen += len(event["value"])
                return seen >= 60

            wait_until(all_read, RUN_S, f"{t.name}: the group to read everything")
            for m in members:
                m.stop()
            outputs = [history(m.output(RUN_S)) for m in members]
        finally:
            for m in members:
                m.kill()
        polls = [op for ops, _ in outputs for op in ops if op.f == "poll"]
        values = sorted(v for op in polls for _, v in op.output)
        committed: dict[str, int] = {}
        for _, other in outputs:
            for line in other:
                committed |= line["committed"]
        return {"values": values, "committed": dict(sorted(committed.items()))}

    result = same(targets, consumed)
    assert len(result["values"]) >= 60


def produce(
    t: Target, records: bytes, *, topic: str = TOPIC, acks: int = -1, partition: int = 2
) -> tuple[int, int]:
    request = ProduceRequest(
        acks=acks,
        timeout=datetime.timedelta(seconds=10),
        topic_data=(
            TopicProduceData(
                name=topic, partition_data=(PartitionProduceData(index=partition, records=records),)
            ),
        ),
    )
    address = t.leader(TOPIC, partition)
    p = t.call(0, 9, request, address).responses[0].partition_responses[0]
    return p.error_code.value, p.base_offset


def create(t: Target, name: str, partitions: int, replication: int) -> tuple[int, str | None]:
    request = CreateTopicsRequest(
        topics=(
            CreatableTopic(
                name=name,
                num_partitions=partitions,
                replication_factor=replication,
                assignments=(),
                configs=(),
            ),
        ),
        timeout=datetime.timedelta(seconds=30),
        validate_only=False,
    )
    (made,) = t.call(19, 7, request).topics
    return made.error_code.value, made.error_message


def test_bad_requests_get_kafkas_answers(targets: list[Target]) -> None:
    def answers(t: Target) -> dict[str, Any]:
        good = batch([b"x"])
        out: dict[str, Any] = {
            "topic exists": create(t, TOPIC, 3, -1),
            "no partitions": create(t, "zero", 0, -1),
            "replication above the brokers": create(t, "wide", 1, 9)[0],
            "illegal name": create(t, "a b", 1, -1),
            "bad crc": produce(t, good[:-1] + bytes([good[-1] ^ 0x55]))[0],
            "acks 2": produce(t, good, acks=2)[0],
            "unknown topic": produce(t, good, topic="never-made")[0],
            "batch over message.max.bytes": produce(t, batch([b"x" * 1_100_000]))[0],
        }
        fetch = fetch_request(TOPIC, 2, 10_000)
        out["fetch past the end"] = (
            t.call(1, 12, fetch, t.leader(TOPIC, 2)).responses[0].partitions[0].error_code.value
        )
        init = t.call(
            22,
            4,
            InitProducerIdRequest(
                transactional_id=None,
                transaction_timeout=datetime.timedelta(seconds=60),
                producer_id=-1,
                producer_epoch=-1,
            ),
        )
        code, first = produce(t, batch([b"a"], init.producer_id, 0))
        retry = produce(t, batch([b"a"], init.producer_id, 0))
        out["idempotent retry"] = (code, retry[0], retry[1] == first)
        out["sequence gap"] = produce(t, batch([b"b"], init.producer_id, 7))[0]
        join = JoinGroupRequest(
            group_id="g-x",
            session_timeout=datetime.timedelta(seconds=10),
            rebalance_timeout=datetime.timedelta(seconds=10),
            member_id="",
            group_instance_id=None,
            protocol_type="consumer",
            protocols=(JoinGroupRequestProtocol(name="range", metadata=b""),),
        )
        joined = t.call(11, 7, join, t.coordinator())
        out["join without an id"] = (joined.error_code.value, bool(joined.member_id))
        brief = dataclasses.replace(join, session_timeout=datetime.timedelta(milliseconds=1))
        out["session under the minimum"] = t.call(11, 7, brief, t.coordinator()).error_code.value
        bare = dataclasses.replace(join, protocol_type="", protocols=())
        out["no protocol"] = t.call(11, 7, bare, t.coordinator()).error_code.value
        sync = SyncGroupRequest(
            group_id="g-x",
            generation_id=1,
            member_id="nobody",
            group_instance_id=None,
            protocol_type="consumer",
            protocol_name="range",
            assignments=(),
        )
        out["sync from a stranger"] = t.call(14, 5, sync, t.coordinator()).error_code.value
        beat = HeartbeatRequest(
            group_id="g-x", generation_id=1, member_id="nobody", group_instance_id=None
        )
        out["heartbeat from a stranger"] = t.call(12, 4, beat, t.coordinator()).error_code.value
        commit = OffsetCommitRequest(
            group_id="g-x",
            generation_id_or_member_epoch=3,
            member_id="nobody",
            group_instance_id=None,
            topics=(
                OffsetCommitRequestTopic(
                    name=TOPIC,
                    partitions=(
                        OffsetCommitRequestPartition(
                            partition_index=0,
                            committed_offset=1,
                            committed_leader_epoch=-1,
                            committed_metadata=None,
                        ),
                    ),
                ),
            ),
        )
        out["commit from a stranger"] = (
            t.call(8, 8, commit, t.coordinator()).topics[0].partitions[0].error_code.value
        )
        wire = t.wire()
        try:
            frame = struct.pack(">hhih", 18, 99, 5, 1) + b"x" + b"\x00"
            wire.send_raw(struct.pack(">i", len(frame)) + frame)
            data = wire.read_frame()
            out["api versions v99"] = struct.unpack_from(">ih", data or b"\x00" * 6)
        finally:
            wire.close()
        wire = t.wire()
        try:
            wire.send_raw(struct.pack(">ihhi", 8, 999, 0, 1))
            out["unknown api key closes"] = wire.closed_by_broker()
        finally:
            wire.close()
        return out

    result = same(targets, answers)
    assert result["bad crc"] == ErrorCode.corrupt_message.value
