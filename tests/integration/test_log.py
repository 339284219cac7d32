"""The log broker on real processes: topics of Raft partitions with leaders spread over
the nodes, produce and consume, a kill -9 that moves partitions and loses no acks=ALL
record, idempotent retries written once across a leader change, producer fencing,
long-poll and streaming reads, retention, and every bad input refused with its reason."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.log.v1 import log_pb2, log_pb2_grpc

from chaos.net import Network
from chaos.pytest_plugin import make_cluster, running
from cluster.client import BatchingProducer, LogClient, errors
from cluster.client.consumer import GroupConsumer
from cluster.client.log import LEADER
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until_async
from services.runtime.errors import Reason
from services.runtime.topology import Group
from tests.integration.errorcheck import assert_reason, failure

pytestmark = pytest.mark.integration

FP = grpc.StatusCode.FAILED_PRECONDITION
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def log_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path, (Group("log", 3),))) as cluster:
        cluster.wait_for_leader(group="log/meta")
        yield cluster


@pytest.fixture
def log3(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of its own, for tests that kill nodes."""
    yield from log_cluster(tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One healthy cluster for tests that only use it (topic names do not overlap)."""
    yield from log_cluster(tmp_path_factory.mktemp("shared-log"))


def client(cluster: LocalCluster) -> LogClient:
    return LogClient.for_topology(cluster.topology, timeout_s=5.0)


async def read_all(log: LogClient, topic: str, partition: int) -> list[log_pb2.FetchedRecord]:
    out: list[log_pb2.FetchedRecord] = []
    while True:
        got = await log.fetch(topic, partition, len(out))
        out.extend(got.records)
        if len(out) >= got.high_watermark:
            return out


async def leaders_on_preferred(log: LogClient, topic: str) -> log_pb2.Topic | None:
    described = await log.describe_topic(topic)
    spread = all(p.leader == p.replicas[0] for p in described.partitions)
    return described if spread else None


async def test_six_partitions_spread_their_leaders_and_keep_order_per_key(
    shared: LocalCluster,
) -> None:
    async with client(shared) as log:
        await log.create_topic("orders", partitions=6)
        await log.wait_until_ready("orders")
        described = await wait_until_async(
            lambda: leaders_on_preferred(log, "orders"), 20, "leaders on preferred replicas"
        )
        assert Counter(p.leader for p in described.partitions) == {"log1": 2, "log2": 2, "log3": 2}
        assert all(len(p.replicas) == 3 for p in described.partitions)

        sent: dict[int, list[bytes]] = {}
        for i in range(60):
            key = f"customer-{i % 12}".encode()
            resp = await log.produce("orders", [f"{i}".encode()], key=key)
            sent.setdefault(resp.partition, []).append(f"{i}".encode())
        assert len(sent) > 1
        for partition, values in sent.items():
            records = await read_all(log, "orders", partition)
            assert [r.offset for r in records] == list(range(len(records)))  # dense
            assert [r.value for r in records] == values  # in the order acknowledged


async def test_kill_9_moves_partitions_keeps_acked_records_and_dedupes_a_retry(
    log3: LocalCluster,
) -> None:
    async with client(log3) as log:
        await log.create_topic("events", partitions=3)
        await log.wait_until_ready("events")
        described = await wait_until_async(
            lambda: leaders_on_preferred(log, "events"), 20, "leaders on preferred replicas"
        )
        acked = {p: [f"{p}-{i}".encode() for i in range(20)] for p in range(3)}
        for p, values in acked.items():
            for value in values:
                await log.produce("events", [value], partition=p)
        producer = await log.init_producer()
        victim = described.partitions[0].leader
        first = await producer.send("events", 0, [b"once"])
        streamed: list[bytes] = []  # a subscriber on the victim's partition, across the kill

        async def subscriber() -> None:
            async for record in log.subscribe("events", 0, 0):
                streamed.append(record.value)

        subscribing = asyncio.create_task(subscriber())
        await until(lambda: len(streamed) == 21, "the subscriber to catch up")

        log3.kill(victim)  # kill -9: no hand-over
        group = described.partitions[0].group
        await asyncio.to_thread(log3.wait_for_leader, group=group, not_=victim)
        # The same batch again, as after a lost answer: the new leader knows it.
        same = log_pb2.ProducerBatch(
            producer_id=producer.producer_id, epoch=producer.epoch, first_sequence=0
        )
        again = await log.produce("events", [b"once"], partition=0, producer=same)
        assert again.duplicate and again.base_offset == first.base_offset

        for p in range(3):
            await log.produce("events", [b"after"], partition=p)
            values = [r.value for r in await read_all(log, "events", p)]
            expected = acked[p] + ([b"once"] if p == 0 else []) + [b"after"]
            assert values == expected
        moved = await log.describe_topic("events")
        assert all(p.leader and p.leader != victim for p in moved.partitions)

        # It found the new leader and went on after its last record: no gap, no repeat.
        def resumed() -> bool:
            if subscribing.done():  # it gave up: say why, rather than time out
                raise AssertionError(f"the subscriber ended: {subscribing.exception()!r}")
            return len(streamed) == 22

        await until(resumed, "the subscriber to resume")
        subscribing.cancel()
        await asyncio.gather(subscribing, return_exceptions=True)
        assert streamed == acked[0] + [b"once", b"after"]


async def test_a_new_producer_epoch_fences_the_old_and_sequences_must_follow(
    shared: LocalCluster,
) -> None:
    async with client(shared) as log:
        await log.create_topic("billing", partitions=1)
        await log.wait_until_ready("billing")
        old = await log.init_producer("biller")
        await old.send("billing", 0, [b"a"])
        new = await log.init_producer("biller")
        assert (new.producer_id, new.epoch) == (old.producer_id, old.epoch + 1)
        e = await failure(old.send("billing", 0, [b"zombie"]))
        assert assert_reason(e, FP, "PRODUCER_FENCED", True)["epoch"] == str(new.epoch)
        await new.send("billing", 0, [b"b"])

        gap = log_pb2.ProducerBatch(producer_id=new.producer_id, epoch=new.epoch, first_sequence=5)
        e = await failure(log.produce("billing", [b"gap"], partition=0, producer=gap))
        assert assert_reason(e, FP, "OUT_OF_ORDER_SEQUENCE", True)["expected_seq"] == "1"
        unknown = log_pb2.ProducerBatch(producer_id=10_000, epoch=0, first_sequence=0)
        e = await failure(log.produce("billing", [b"x"], partition=0, producer=unknown))
        assert_reason(e, NOT_FOUND, "UNKNOWN_PRODUCER", True)
        assert [r.value for r in await read_all(log, "billing", 0)] == [b"a", b"b"]


async def test_fetch_long_polls_and_subscribe_streams_as_records_commit(
    shared: LocalCluster,
) -> None:
    async with client(shared) as log:
        await log.create_topic("ticks", partitions=1)
        await log.wait_until_ready("ticks")
        polling = asyncio.ensure_future(log.fetch("ticks", 0, 0, max_wait_ms=10_000))
        streamed: list[bytes] = []

        async def subscriber() -> None:
            async for record in log.subscribe("ticks", 0, 0):
                streamed.append(record.value)
                if len(streamed) == 3:
                    return

        subscribing = asyncio.ensure_future(subscriber())
        await log.produce("ticks", [b"t0"], partition=0)
        polled = await polling
        assert [r.value for r in polled.records] == [b"t0"]
        await log.produce("ticks", [b"t1", b"t2"], partition=0)
        await asyncio.wait_for(subscribing, 10)
        assert streamed == [b"t0", b"t1", b"t2"]
        empty = await log.fetch("ticks", 0, 3, max_wait_ms=50)
        assert not empty.records and empty.high_watermark == 3


async def test_retention_moves_the_log_start_and_older_offsets_are_out_of_range(
    shared: LocalCluster,
) -> None:
    async with client(shared) as log:
        await log.create_topic("metrics", 1, retention=log_pb2.Retention(max_records=10))
        await log.wait_until_ready("metrics")
        for i in range(3):
            await log.produce("metrics", [f"{i}-{j}".encode() for j in range(10)], partition=0)

        async def trimmed() -> int | None:
            start = (await log.fetch("metrics", 0, 29)).log_start_offset
            return start if start >= 20 else None

        assert await wait_until_async(trimmed, 20, "retention to trim") == 20
        e = await failure(log.fetch("metrics", 0, 5))
        details = assert_reason(e, grpc.StatusCode.OUT_OF_RANGE, "OUT_OF_RANGE", True)
        assert details["log_start_offset"] == "20" and details["high_watermark"] == "30"
        kept = await log.fetch("metrics", 0, 20)
        assert [r.offset for r in kept.records] == list(range(20, 30))


async def test_acks_leader_answers_before_commit_with_the_offset_it_reckons_and_fences_apply(
    shared: LocalCluster,
) -> None:
    async with client(shared) as log:
        await log.create_topic("fast", partitions=1)
        await log.wait_until_ready("fast")
        resp = await log.produce("fast", [b"quick"], partition=0, acks=LEADER)
        assert resp.base_offset == 0  # where it lands once committed (services/log/tail.py)

        async def committed() -> bool:
            return (await log.fetch("fast", 0, 0)).high_watermark == 1

        await wait_until_async(committed, 10, "the acks=LEADER record to commit")
        await log.produce("fast", [b"by holder 7"], partition=0, fence=("jobs", 7))
        e = await failure(log.produce("fast", [b"by holder 5"], partition=0, fence=("jobs", 5)))
        assert assert_reason(e, FP, "FENCED", True)["highest_token"] == "7"
        assert [r.value for r in await read_all(log, "fast", 0)] == [b"quick", b"by holder 7"]


async def test_delete_topic_and_create_it_again_starts_empty(shared: LocalCluster) -> None:
    async with client(shared) as log:
        await log.create_topic("scratch", partitions=2)
        await log.wait_until_ready("scratch")
        await log.produce("scratch", [b"old"], partition=0)
        await log.delete_topic("scratch")
        assert "scratch" not in [t.name for t in await log.list_topics()]
        e = await failure(log.fetch("scratch", 0, 0))
        assert_reason(e, NOT_FOUND, "UNKNOWN_TOPIC", True)
        await log.create_topic("scratch", partitions=2)
        await log.wait_until_ready("scratch")
        assert (await log.fetch("scratch", 0, 0)).high_watermark == 0


async def test_bad_input_is_refused_with_its_reason_and_nothing_is_lost(
    shared: LocalCluster,
) -> None:
    async with client(shared) as log:
        await log.create_topic("keep", partitions=2)
        await log.wait_until_ready("keep")
        await log.produce("keep", [b"precious"], partition=0)
        e = await failure(log.create_topic("keep", partitions=2))
        assert_reason(e, grpc.StatusCode.ALREADY_EXISTS, "TOPIC_EXISTS", True)
        for bad in (
            log.create_topic("bad name!", partitions=1),
            log.create_topic("zero", partitions=0),
            log.create_topic("wide", partitions=1, replication=4),
            log.create_topic("neg", 1, retention=log_pb2.Retention(max_records=-1)),
            log.produce("keep", [], partition=0),
            log.produce("keep", [b"x" * (1024 * 1024 + 1)], partition=0),
            log.fetch("keep", 0, -1),
            log.fetch("keep", 0, 0, max_wait_ms=-5),
        ):
            assert_reason(await failure(bad), INVALID, "INVALID", True)
        e = await failure(log.produce("nope", [b"x"], partition=0))
        assert_reason(e, NOT_FOUND, "UNKNOWN_TOPIC", True)
        e = await failure(log.delete_topic("nope"))
        assert_reason(e, NOT_FOUND, "UNKNOWN_TOPIC", True)
        e = await failure(log.fetch("keep", 7, 0))
        assert assert_reason(e, NOT_FOUND, "UNKNOWN_TOPIC", True)["partitions"] == "2"
        e = await failure(log.fetch("keep", 0, 2))
        assert_reason(e, grpc.StatusCode.OUT_OF_RANGE, "OUT_OF_RANGE", True)

        # acks outside the enum, as a client with a newer proto might send
        leader = (await log.describe_topic("keep")).partitions[0].leader
        async with grpc.aio.insecure_channel(log.addresses[leader]) as channel:
            stub = log_pb2_grpc.LogStub(channel)
            req = log_pb2.ProduceRequest(
                topic="keep",
                partition=0,
                acks=7,  # type: ignore[arg-type]
                records=[log_pb2.Record(value=b"x")],
            )
            assert_reason(await failure(stub.Produce(req, timeout=5)), INVALID, "INVALID", True)
        assert [r.value for r in await read_all(log, "keep", 0)] == [b"precious"]


async def test_a_metadata_follower_answers_from_caught_up_metadata_not_with_a_hint(
    shared: LocalCluster,
) -> None:
    """A partition leader that only follows the metadata group asks the metadata leader
    for a read index when its copy lacks a topic or a producer id: the answer is the truth
    (UNKNOWN_TOPIC, UNKNOWN_PRODUCER), never a NOT_LEADER naming the metadata leader, which
    a client would follow for the partition and bounce between two nodes."""
    meta_leader = await asyncio.to_thread(shared.wait_for_leader, group="log/meta")
    async with client(shared) as log:
        await log.create_topic("spread", partitions=3)
        await log.wait_until_ready("spread")

        async def partition_led_elsewhere() -> log_pb2.Partition | None:
            topic = await log.describe_topic("spread")
            return next(
                (
                    p
                    for p in topic.partitions  # preferred, so it will not move
                    if p.leader == p.replicas[0] != meta_leader
                ),
                None,
            )

        part = await wait_until_async(partition_led_elsewhere, 10, "a partition led off-meta")
        async with grpc.aio.insecure_channel(log.addresses[part.leader]) as channel:
            stub = log_pb2_grpc.LogStub(channel)
            never = log_pb2.ProducerBatch(producer_id=20_000, epoch=0, first_sequence=0)
            req = log_pb2.ProduceRequest(
                topic="spread",
                partition=part.partition,
                producer=never,
                records=[log_pb2.Record(value=b"x")],
            )
            e = await failure(stub.Produce(req, timeout=5))
            assert_reason(e, NOT_FOUND, "UNKNOWN_PRODUCER", True)
            fetch = log_pb2.FetchRequest(topic="never-created", partition=0, offset=0)
            e = await failure(stub.Fetch(fetch, timeout=5))
            assert_reason(e, NOT_FOUND, "UNKNOWN_TOPIC", True)


async def test_the_launcher_finds_the_leader_of_a_partition_with_fewer_replicas(
    shared: LocalCluster,
) -> None:
    """A partition's majority is of its own replicas, not of every log node: one replica
    of three nodes leads alone (the harness and the nemesis look for leaders this way)."""
    async with client(shared) as log:
        await log.create_topic("solo", partitions=1, replication=1)
        await log.wait_until_ready("solo")
        (part,) = (await log.describe_topic("solo")).partitions
    found = await asyncio.to_thread(shared.wait_for_leader, group=part.group, timeout_s=5)
    assert found == part.replicas[0] == part.leader


def assigned(consumer: GroupConsumer) -> list[int]:
    return sorted(p for _, p in consumer.positions)


async def test_a_group_rebalances_on_join_leave_and_a_missed_session(shared: LocalCluster) -> None:
    async with client(shared) as log:
        await log.create_topic("jobs", partitions=4)
        await log.wait_until_ready("jobs")
        async with GroupConsumer(
            log, "workers", ["jobs"], session_timeout_s=1.5, client_id="a"
        ) as a:
            assert assigned(a) == [0, 1, 2, 3]
            async with GroupConsumer(
                log, "workers", ["jobs"], session_timeout_s=1.5, client_id="b"
            ) as b:
                await until(lambda: a.generation == b.generation, "a to see the rebalance")
                assert sorted(assigned(a) + assigned(b)) == [0, 1, 2, 3]
                assert len(assigned(a)) == len(assigned(b)) == 2
            # b left: a has everything again at its next heartbeat
            await until(lambda: assigned(a) == [0, 1, 2, 3], "b's leave")

            # a member that never heartbeats is expired after its session timeout
            silent = await log.join_group(
                "workers", ["jobs"], client_id="silent", session_timeout_ms=600
            )
            assert silent.generation > a.generation
            expired = silent.generation + 1  # the generation its expiry starts
            await until(lambda: a.generation >= expired, "the silent member's expiry")
            assert assigned(a) == [0, 1, 2, 3]
            groups = {g.group: g for g in await log.list_groups()}
            assert [m.member_id for m in groups["workers"].members] == [a.member_id]


async def test_commits_are_fenced_by_generation_and_a_new_owner_resumes_there(
    shared: LocalCluster,
) -> None:
    async with client(shared) as log:
        await log.create_topic("payments", partitions=1)
        await log.wait_until_ready("payments")
        await log.produce("payments", [f"pay-{i}".encode() for i in range(10)], partition=0)
        async with GroupConsumer(log, "ledger", ["payments"], client_id="first") as first:
            records = await first.poll()
            assert len(records) == 10
            await first.commit({("payments", 0): 6})
            old_generation = first.generation
            await first.join()  # a rebalance: a new generation
            assert first.generation > old_generation
            e = await failure(
                log.commit_offsets("ledger", first.member_id, old_generation, {("payments", 0): 2})
            )
            details = assert_reason(e, FP, "ILLEGAL_GENERATION", True)
            assert details["generation"] == str(first.generation)
            e = await failure(
                log.commit_offsets("ledger", "nobody", first.generation, {("payments", 0): 2})
            )
            assert_reason(e, NOT_FOUND, "UNKNOWN_MEMBER", True)
            assert await log.fetch_offsets("ledger") == {("payments", 0): 6}
        async with GroupConsumer(log, "ledger", ["payments"], client_id="second") as second:
            assert second.positions == {("payments", 0): 6}
            assert [r.value for _, _, r in await second.poll()] == [
                f"pay-{i}".encode() for i in range(6, 10)
            ]


async def test_bad_group_input_is_refused(shared: LocalCluster) -> None:
    async with client(shared) as log:
        for bad in (
            log.join_group("", ["keep"]),
            log.join_group("g", []),
            log.join_group("g", ["keep"], session_timeout_ms=100),
            log.commit_offsets("g", "m", 1, {("keep", -1): 0}),
        ):
            assert_reason(await failure(bad), INVALID, "INVALID", True)
        assert_reason(
            await failure(log.join_group("g", ["nope"])), NOT_FOUND, "UNKNOWN_TOPIC", True
        )
        e = await failure(log.heartbeat("g", "nobody", 1))
        assert_reason(e, NOT_FOUND, "UNKNOWN_MEMBER", True)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll a condition on the client's own state while its heartbeats run."""

    async def met() -> bool:
        return condition()

    await wait_until_async(met, 10, what)


async def test_a_batching_producer_shares_requests_and_keeps_each_records_offset(
    shared: LocalCluster,
) -> None:
    async with client(shared) as log:
        await log.create_topic("batched", partitions=1)
        await log.wait_until_ready("batched")
        async with BatchingProducer(log) as producer:
            sent = await asyncio.gather(
                *(producer.send("batched", f"r{i}".encode(), partition=0) for i in range(300))
            )
            assert producer.requests < 300  # sends waiting behind a request share the next
        offsets = [offset for _, offset in sent]
        assert sorted(offsets) == list(range(300))
        records = await read_all(log, "batched", 0)
        by_offset = {r.offset: r.value for r in records}
        assert all(by_offset[o] == f"r{i}".encode() for i, o in enumerate(offsets))
        assert offsets == sorted(offsets)  # one request in flight: sent order is log order


async def test_an_old_epoch_is_refused_when_the_partition_leader_is_cut_from_the_metadata_leader(
    log3: LocalCluster,
) -> None:
    """log.proto's promise: once InitProducer has answered the next epoch, no batch of the
    previous epoch is written. The bridge cut: the partition's leader P loses its links to
    the metadata group's leader M, both ways; the third node B bridges, so both groups keep
    a quorum and P stays a quiet follower of the metadata group, its copy stale. P must
    still refuse the old epoch: with PRODUCER_FENCED, or as unavailable when it cannot
    confirm the epoch; never by writing the batch."""
    async with LogClient.for_topology(log3.topology, timeout_s=2.0, attempts=3) as log:
        await log.create_topic("bridge", partitions=3)
        await log.wait_until_ready("bridge")
        described = await wait_until_async(
            lambda: leaders_on_preferred(log, "bridge"), 20, "leaders on preferred replicas"
        )
        meta = log3.wait_for_leader(group="log/meta")
        p = next(x for x in described.partitions if x.leader != meta)
        old = await log.init_producer("bridged")
        await old.send("bridge", p.partition, [b"before"])

        assert log3.toxiproxy is not None
        net = Network(log3.toxiproxy, log3.topology)
        net.cut_link(p.leader, meta)
        net.cut_link(meta, p.leader)
        new = await log.init_producer("bridged")
        assert new.epoch == old.epoch + 1
        for attempt in range(3):
            zombie = log_pb2.ProducerBatch(
                producer_id=old.producer_id, epoch=old.epoch, first_sequence=1 + attempt
            )
            e = await failure(
                log.produce("bridge", [b"zombie"], partition=p.partition, producer=zombie)
            )
            assert errors.reason_of(e) in (Reason.PRODUCER_FENCED, Reason.NO_QUORUM), e
            assert errors.definite(e)
        net.heal()
    async with client(log3) as log:  # every attempt it needs to follow leaders after the heal
        new.client = log
        await new.send("bridge", p.partition, [b"after"])
        assert [r.value for r in await read_all(log, "bridge", p.partition)] == [
            b"before",
            b"after",
        ]
