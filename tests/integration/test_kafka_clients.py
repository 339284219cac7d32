"""confluent-kafka (librdkafka), kafka-python, aiokafka and franz-go (Go), each in processes
of its own,
through the log nodes' Kafka ports: an idempotent acks=all producer and a group of three
consumers that commit as they go, across a kill -9 of a partition's leader and a member
leaving. The project's log checker judges the history: no acknowledged record lost, none
written twice, no offset holding two values; the group's offsets end at the log's end."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from chaos.checkers.log import check
from chaos.history import Operation
from cluster.client import LogClient
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from tests.integration.kafka import bootstrap, history, kafka_cluster, workload

pytestmark = pytest.mark.integration

TOPIC = "work"
PARTITIONS = 3
RECORDS = 100_000  # at most: the producer is stopped once it wrote on after the kill
PROGRESS = 100  # records written before the kill, and again after the restart
SETTLE_S = 120.0  # a slow machine: elections, rebalances of 6 s sessions, retries


def sdk(cluster: LocalCluster) -> LogClient:
    return LogClient.for_topology(cluster.topology, timeout_s=10.0)


def log_end(cluster: LocalCluster) -> dict[int, int]:
    async def ends() -> dict[int, int]:
        log = sdk(cluster)
        return {p: (await log.fetch(TOPIC, p, 0)).high_watermark for p in range(PARTITIONS)}

    return asyncio.run(ends())


def progressed(cluster: LocalCluster, since: int) -> None:
    """Until the producer has written PROGRESS more records than `since` (all partitions)."""
    wait_until(lambda: sum(log_end(cluster).values()) >= since + PROGRESS, SETTLE_S, "the producer")


def group_offsets(cluster: LocalCluster, group: str) -> dict[int, int]:
    committed = asyncio.run(sdk(cluster).fetch_offsets(group))
    return {p: o for (t, p), o in committed.items() if t == TOPIC}


@pytest.mark.parametrize("lib", ["confluent", "kafka-python", "aiokafka", "franz-go"])
def test_idempotent_producer_and_a_group_of_three_across_a_leader_kill(
    lib: str, tmp_path: Path
) -> None:
    with kafka_cluster(tmp_path) as cluster:

        async def made() -> str:
            log = sdk(cluster)
            await log.create_topic(TOPIC, PARTITIONS)
            await log.wait_until_ready(TOPIC)
            return (await log.describe_topic(TOPIC)).partitions[0].leader

        leader = asyncio.run(made())
        runs = tmp_path / "clients"
        servers = bootstrap(cluster)
        consumers = [workload(runs, f"c{i}", lib, "consume", servers, TOPIC) for i in (1, 2, 3)]
        producer = workload(runs, "producer", lib, "produce", servers, TOPIC, count=RECORDS)
        try:
            progressed(cluster, 0)
            cluster.kill(leader)  # kill -9 the leader of partition 0 mid-stream
            killed_ns = time.monotonic_ns()  # CLOCK_MONOTONIC: the clients' clock too
            cluster.start_node(leader)
            consumers[2].stop()  # a member leaves: the others take its partitions
            progressed(cluster, sum(log_end(cluster).values()))
            producer.stop()
            ops: list[Operation] = []
            sent, _ = history(producer.output(SETTLE_S))
            ops += sent
            ends = log_end(cluster)
            wait_until(
                lambda: group_offsets(cluster, "g") == ends, SETTLE_S, "the group to commit it all"
            )
            for c in consumers:
                c.stop()
            for c in consumers:
                polls, _ = history(c.output(SETTLE_S))
                ops += polls
            reader = workload(runs, "final", "confluent", "read-all", servers, TOPIC)
            final, _ = history(reader.output(SETTLE_S))
            ops += final
        finally:
            for w in [producer, *consumers]:
                w.kill()
        result = check(ops)
        assert result.acknowledged == len(sent), [op for op in sent if op.outcome != "ok"][:5]
        assert not result.lost, result.lost[:10]
        assert not result.duplicates, list(result.duplicates.items())[:10]
        assert not result.inconsistent_offsets
        assert sum(ends.values()) == len(sent)  # each acknowledged record written once
        after = [op for op in sent if op.key == f"{TOPIC}/0" and op.start_ns > killed_ns]
        assert after, "the producer went on writing partition 0 at its new leader"


def test_a_group_goes_on_across_a_kill_of_its_coordinator(tmp_path: Path) -> None:
    """kill -9 of the `log/groups` leader, Kafka's group coordinator, while librdkafka
    members consume and commit: they find the new coordinator (FindCoordinator after
    NOT_COORDINATOR or a dead connection), rejoin if they must, and the group commits to
    the end of the log; every record produced is read by some member."""
    with kafka_cluster(tmp_path) as cluster:

        async def made() -> None:
            log = sdk(cluster)
            await log.create_topic(TOPIC, PARTITIONS)
            await log.wait_until_ready(TOPIC)

        asyncio.run(made())
        runs = tmp_path / "clients"
        servers = bootstrap(cluster)
        consumers = [
            workload(runs, f"c{i}", "confluent", "consume", servers, TOPIC) for i in (1, 2)
        ]
        producer = workload(runs, "producer", "confluent", "produce", servers, TOPIC, count=RECORDS)
        try:
            progressed(cluster, 0)
            wait_until(lambda: sum(group_offsets(cluster, "g").values()) > 0, SETTLE_S, "a commit")
            coordinator = cluster.wait_for_leader(group="log/groups")
            cluster.kill(coordinator)
            cluster.wait_for_leader(group="log/groups", not_=coordinator)
            cluster.start_node(coordinator)
            progressed(cluster, sum(log_end(cluster).values()))
            producer.stop()
            sent, _ = history(producer.output(SETTLE_S))
            ends = log_end(cluster)
            wait_until(
                lambda: group_offsets(cluster, "g") == ends, SETTLE_S, "the group to commit it all"
            )
            for c in consumers:
                c.stop()
            read = {
                v
                for c in consumers
                for op in history(c.output(SETTLE_S))[0]
                if op.f == "poll"
                for _, v in op.output
            }
        finally:
            for w in [producer, *consumers]:
                w.kill()
    assert {op.input for op in sent if op.outcome == "ok"} <= read
