"""A 256-partition topic on three real log nodes: every partition led, its leaders spread
over the nodes; a kill -9 of one node moves each partition it led; records produced and
consumed on every partition before and after; deleting the topic frees its groups and
their files. Most of those groups are quiet between the steps (quiescence): what wakes
them is what this test does."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultlab.log.v1 import log_pb2

from cluster.admin_client import fetch_all
from cluster.client import BatchingProducer, LogClient
from cluster.launcher import LocalCluster, node_data_dir
from cluster.waiting import wait_until, wait_until_async
from tests.integration.test_log import log_cluster

pytestmark = pytest.mark.integration

PARTITIONS = 256
TOPIC = "wide"
# What `faultlab log topic create` waits for a topic this size (cluster/cli/log.py).
LED_WITHIN_S = 30 + 0.25 * PARTITIONS


@pytest.fixture
def log3(tmp_path: Path) -> Iterator[LocalCluster]:
    yield from log_cluster(tmp_path)


async def led_by(log: LogClient, balanced: bool) -> log_pb2.Topic | None:
    """The topic once every partition has a leader (on its first replica if `balanced`)."""
    described = await log.describe_topic(TOPIC)
    if not all(p.leader for p in described.partitions):
        return None
    if balanced and not all(p.leader == p.replicas[0] for p in described.partitions):
        return None
    return described


async def produce_everywhere(log: LogClient, value: bytes) -> None:
    async with BatchingProducer(log) as producer:
        await asyncio.gather(*(producer.send(TOPIC, value, partition=p) for p in range(PARTITIONS)))


async def values_on(log: LogClient, partition: int) -> list[bytes]:
    got = await log.fetch(TOPIC, partition, 0)
    return [r.value for r in got.records]


def partition_folders(cluster: LocalCluster, node: str) -> list[Path]:
    raft = node_data_dir(cluster.run_dir, node) / "raft"
    prefix = urllib.parse.quote(f"log/{TOPIC}.", safe="")
    return [p for p in raft.iterdir() if p.name.startswith(prefix)]


def hosted_partitions(cluster: LocalCluster) -> list[str]:
    """The topic's Raft groups that any node still hosts."""
    statuses = fetch_all(cluster.topology, timeout_s=5.0, only=("log1", "log2", "log3"))
    return [
        g.group
        for status in statuses.values()
        if not isinstance(status, str)
        for g in status.groups
        if g.group.startswith(f"log/{TOPIC}.")
    ]


async def test_a_256_partition_topic_is_led_survives_a_kill_9_and_is_deleted_cleanly(
    log3: LocalCluster,
) -> None:
    async with LogClient.for_topology(log3.topology, timeout_s=30.0) as log:
        await log.create_topic(TOPIC, partitions=PARTITIONS, replication=3)
        described = await wait_until_async(
            lambda: led_by(log, balanced=True), LED_WITHIN_S, "every partition led, spread"
        )
        leaders = Counter(p.leader for p in described.partitions)
        assert max(leaders.values()) - min(leaders.values()) <= 1, leaders
        assert all(len(partition_folders(log3, n)) == PARTITIONS for n in leaders)

        await produce_everywhere(log, b"before")
        for p in range(PARTITIONS):
            assert await values_on(log, p) == [b"before"]

        victim = "log2"
        log3.kill(victim)  # kill -9: its partitions wait out their followers' liveness

        async def moved() -> log_pb2.Topic | None:
            now = await led_by(log, balanced=False)
            if now is None or any(p.leader == victim for p in now.partitions):
                return None
            return now

        after = await wait_until_async(moved, LED_WITHIN_S, f"every partition off {victim}")
        assert {p.leader for p in after.partitions} == {"log1", "log3"}

        await produce_everywhere(log, b"after")
        for p in range(PARTITIONS):
            assert await values_on(log, p) == [b"before", b"after"]

        log3.start_node(victim)
        await log.delete_topic(TOPIC)

        def freed() -> bool:
            nodes = ("log1", "log2", "log3")
            return not hosted_partitions(log3) and all(
                not partition_folders(log3, n) for n in nodes
            )

        await asyncio.to_thread(wait_until, freed, LED_WITHIN_S, "groups and files freed")
