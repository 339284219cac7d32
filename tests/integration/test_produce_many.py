"""ProduceMany on real processes: several partitions' batches in one call to their leader,
each answered on its own as Produce would answer it; and the BatchingProducer sending one
call per leader, falling back to plain Produce where its idea of a leader is stale."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.log.v1 import log_pb2, log_pb2_grpc

from cluster.client import BatchingProducer, LogClient, errors
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until_async
from tests.integration.errorcheck import assert_reason, failure
from tests.integration.test_log import log_cluster

pytestmark = pytest.mark.integration

PARTITIONS = 6


@pytest.fixture(scope="module")
def log3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from log_cluster(tmp_path_factory.mktemp("produce-many"))


async def ready_topic(log: LogClient, topic: str) -> log_pb2.Topic:
    await log.create_topic(topic, partitions=PARTITIONS, replication=3)
    await log.wait_until_ready(topic, timeout_s=30.0)
    return await log.describe_topic(topic)


def batch(topic: str, partition: int, *values: bytes) -> log_pb2.ProduceRequest:
    records = [log_pb2.Record(value=v) for v in values]
    return log_pb2.ProduceRequest(topic=topic, partition=partition, records=records)


def refusal(result: log_pb2.ProduceResult) -> grpc.aio.AioRpcError:
    assert result.WhichOneof("result") == "error", result
    return errors.from_status(result.error)


async def test_each_batch_is_answered_on_its_own(log3: LocalCluster) -> None:
    async with LogClient.for_topology(log3.topology, timeout_s=10.0) as log:
        described = await ready_topic(log, "each")
        leader = described.partitions[0].leader
        led = [p.partition for p in described.partitions if p.leader == leader]
        other = next(p for p in described.partitions if p.leader != leader)
        batches = [batch("each", p, b"a", b"b") for p in led]
        batches += [
            batch("each", other.partition, b"elsewhere"),
            batch("each", led[0]),  # no records
            batch("nope", 0, b"x"),
        ]
        async with grpc.aio.insecure_channel(log.addresses[leader]) as channel:
            stub = log_pb2_grpc.LogStub(channel)
            resp = await stub.ProduceMany(log_pb2.ProduceManyRequest(batches=batches), timeout=10)
        results = list(resp.results)
        assert len(results) == len(batches)
        for p, result in zip(led, results, strict=False):
            assert result.produced.partition == p
        # each batch of one partition landed once, in order, at the start of its log
        assert {r.produced.base_offset for r in results[: len(led)]} == {0}
        not_leader = refusal(results[len(led)])
        assert not_leader.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert errors.reason_of(not_leader) == errors.Reason.Value("NOT_LEADER")
        assert errors.leader_hint(not_leader) == other.leader and errors.definite(not_leader)
        empty = refusal(results[len(led) + 1])
        assert errors.reason_of(empty) == errors.Reason.Value("INVALID")
        assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT
        unknown = refusal(results[len(led) + 2])
        assert errors.reason_of(unknown) == errors.Reason.Value("UNKNOWN_TOPIC")
        assert unknown.code() == grpc.StatusCode.NOT_FOUND
        for p in led:
            assert [r.value for r in (await log.fetch("each", p, 0)).records] == [b"a", b"b"]
        assert (await log.fetch("each", other.partition, 0)).records == []


async def test_a_call_with_no_batch_or_too_many_is_refused_whole(log3: LocalCluster) -> None:
    async with LogClient.for_topology(log3.topology, timeout_s=10.0) as log:
        described = await ready_topic(log, "whole")
        leader = described.partitions[0].leader
        async with grpc.aio.insecure_channel(log.addresses[leader]) as channel:
            stub = log_pb2_grpc.LogStub(channel)
            empty = log_pb2.ProduceManyRequest()
            e = await failure(stub.ProduceMany(empty, timeout=10))
            assert_reason(e, grpc.StatusCode.INVALID_ARGUMENT, "INVALID", True)
            many = log_pb2.ProduceManyRequest(batches=[batch("whole", 0, b"x")] * 1001)
            e = await failure(stub.ProduceMany(many, timeout=10))
            assert_reason(e, grpc.StatusCode.INVALID_ARGUMENT, "INVALID", True)
        assert (await log.fetch("whole", 0, 0)).records == []


async def send_everywhere(producer: BatchingProducer, topic: str, per_partition: int) -> None:
    """`per_partition` sends on every partition at once; each partition's offsets come
    back as 0, 1, ... in some order (each record written once)."""
    sends = [
        producer.send(topic, b"%d" % i, partition=p)
        for p in range(PARTITIONS)
        for i in range(per_partition)
    ]
    got = await asyncio.gather(*sends)
    offsets: dict[int, list[int]] = {}
    for partition, offset in got:
        offsets.setdefault(partition, []).append(offset)
    assert {p: sorted(o) for p, o in offsets.items()} == {
        p: list(range(len(offsets[p]))) for p in range(PARTITIONS)
    }


async def test_a_batching_producer_sends_one_call_per_leader(log3: LocalCluster) -> None:
    async with LogClient.for_topology(log3.topology, timeout_s=10.0) as log:
        described = await ready_topic(log, "coalesced")
        leaders = {p.leader for p in described.partitions}
        async with BatchingProducer(log) as producer:
            await send_everywhere(producer, "coalesced", 50)
            # the first batch of each partition waits for the topic's metadata alone;
            # after that, what is ready together goes together
            assert producer.calls < producer.requests
            assert producer.requests >= PARTITIONS
        assert len(leaders) > 1  # the test means something only with several leaders


async def test_a_stale_leader_is_followed_batch_by_batch(log3: LocalCluster) -> None:
    """The client believes one wrong node leads every partition: that node answers
    NOT_LEADER for the batches it does not lead and writes the others; the refused ones
    go again as plain Produce, which follows the hint. Every record is written once."""
    async with LogClient.for_topology(log3.topology, timeout_s=10.0) as log:
        described = await ready_topic(log, "stale")
        wrong = described.partitions[0].leader
        for p in described.partitions:  # the client's leader cache, made stale
            caller = log._partition(described, p.partition)
            caller.leaders.set(p.group, wrong)
        async with BatchingProducer(log) as producer:
            await send_everywhere(producer, "stale", 20)
        for p in described.partitions:
            values = [r.value for r in (await log.fetch("stale", p.partition, 0)).records]
            assert sorted(values) == sorted(b"%d" % i for i in range(20))


@pytest.fixture
def log3_own(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of its own: the test kills a node."""
    yield from log_cluster(tmp_path)


async def test_a_call_to_a_dead_leader_sends_each_batch_on_its_own(log3_own: LocalCluster) -> None:
    """The client believes a killed node leads every partition: the ProduceMany to it
    fails whole (UNAVAILABLE), each batch goes again as a plain Produce, which tries the
    other replicas and follows the new leaders. Every record is written once. (The new
    leaders are awaited first: how long a plain Produce waits out an election is its
    own retry budget's business, not this test's.)"""
    async with LogClient.for_topology(log3_own.topology, timeout_s=10.0) as log:
        described = await ready_topic(log, "dead")
        dead = described.partitions[0].leader
        log3_own.kill(dead)

        async def led_elsewhere() -> bool:
            topic = await log.describe_topic("dead")
            return all(p.leader and p.leader != dead for p in topic.partitions)

        await wait_until_async(led_elsewhere, 30.0, "new leaders for the dead node's partitions")
        for p in described.partitions:
            log._partition(described, p.partition).leaders.set(p.group, dead)
        async with BatchingProducer(log) as producer:
            await send_everywhere(producer, "dead", 10)
        for p in described.partitions:
            values = [r.value for r in (await log.fetch("dead", p.partition, 0)).records]
            assert sorted(values) == sorted(b"%d" % i for i in range(10))
