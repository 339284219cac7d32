"""A follower that missed more than one frame can carry catches up, on real processes.

Before: a follower killed while the leader took a few 4 MB batches was, on its return,
sent one append holding all of them (past the 8 MiB a frame or gRPC message holds), or,
once the leader had snapshotted, one snapshot message holding every record. Sending it
raised inside the leader's Raft driver, which died there: the partition had no working
leader, the next one elected met the same, and the partition stayed down for good.
Now appends are cut at `max_append_bytes` (etcd's MaxSizePerMsg), a snapshot crosses in
pieces (services/raft/transport/pieces.py), and a driver that fails stops its process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.pytest_plugin import make_cluster, running
from cluster.admin_client import fetch_all
from cluster.client import LogClient
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from services.raft.transport.frames import MAX_FRAME_BYTES
from services.runtime.topology import Group

pytestmark = pytest.mark.integration

TOPIC = "large"
BATCH = [bytes(1_000_000)] * 4  # 4 MB: the broker takes up to 4 MiB per produce
MISSED_BATCHES = 5  # 20 MB missed: more than two frames hold
CAUGHT_UP_WITHIN_S = 60.0


def cluster_with(tmp_path: Path, snapshot_every: int | None) -> Iterator[LocalCluster]:
    env = {"FAULTLAB_SNAPSHOT_EVERY": str(snapshot_every)} if snapshot_every else {}
    with running(make_cluster(tmp_path, (Group("log", 3),), node_env=env)) as cluster:
        cluster.wait_for_leader(group="log/meta")
        yield cluster


@pytest.fixture
def no_snapshots(tmp_path: Path) -> Iterator[LocalCluster]:
    yield from cluster_with(tmp_path, None)


@pytest.fixture
def snapshot_every_2(tmp_path: Path) -> Iterator[LocalCluster]:
    yield from cluster_with(tmp_path, 2)


def partition_status(cluster: LocalCluster) -> dict[str, tuple[bool, int, int]]:
    """Each answering node's (leads, commit, applied) for the topic's one partition."""
    out = {}
    for node, status in fetch_all(cluster.topology, timeout_s=2.0).items():
        if isinstance(status, str):
            continue
        for g in status.groups:
            if g.group.startswith(f"log/{TOPIC}."):
                out[node] = (g.leader_id == node, g.commit_index, g.applied_index)
    return out


async def kill_a_follower_and_produce(cluster: LocalCluster) -> str:
    async with LogClient.for_topology(cluster.topology, timeout_s=30.0) as log:
        await log.create_topic(TOPIC, partitions=1, replication=3)
        await log.wait_until_ready(TOPIC, timeout_s=30.0)
        partition = (await log.describe_topic(TOPIC)).partitions[0]
        follower = next(r for r in partition.replicas if r != partition.leader)
        cluster.kill(follower)
        for _ in range(MISSED_BATCHES):
            await log.produce(TOPIC, BATCH, partition=0)
        return follower


def caught_up(cluster: LocalCluster, follower: str) -> bool:
    status = partition_status(cluster)
    leaders = [s for s in status.values() if s[0]]
    if len(status) < 3 or len(leaders) != 1:
        return False
    _, commit, _ = leaders[0]
    return commit >= MISSED_BATCHES and status[follower][2] == commit


async def produce_one_more(cluster: LocalCluster) -> int:
    async with LogClient.for_topology(cluster.topology, timeout_s=30.0) as log:
        response = await log.produce(TOPIC, [b"after"], partition=0)
        fetched = await log.fetch(TOPIC, 0, response.base_offset)
        assert [r.value for r in fetched.records] == [b"after"]
        return response.base_offset


async def check_catches_up(cluster: LocalCluster) -> None:
    assert sum(len(v) for v in BATCH) * MISSED_BATCHES > 2 * MAX_FRAME_BYTES
    follower = await kill_a_follower_and_produce(cluster)
    cluster.start_node(follower)
    wait_until(lambda: caught_up(cluster, follower), CAUGHT_UP_WITHIN_S, f"{follower} caught up")
    assert await produce_one_more(cluster) == MISSED_BATCHES * len(BATCH)
    assert all(cluster.is_running(n) for n in ("log1", "log2", "log3"))


async def test_a_follower_that_missed_20_mb_of_appends_catches_up(
    no_snapshots: LocalCluster,
) -> None:
    await check_catches_up(no_snapshots)


async def test_a_follower_sent_a_20_mb_snapshot_catches_up(snapshot_every_2: LocalCluster) -> None:
    await check_catches_up(snapshot_every_2)
    installed = snapshot_every_2.log_path  # the follower took the leader's snapshot
    assert any(
        '"raft_snapshot_installed"' in installed(n).read_text() for n in ("log1", "log2", "log3")
    )
