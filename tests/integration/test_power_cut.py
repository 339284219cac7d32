"""Power cuts on real nodes over lazy disks: what each fsync policy keeps of what it
acknowledged, what a failing disk does to a node, and the crash-durability trials."""

from __future__ import annotations

import asyncio
import functools
import random
from pathlib import Path

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2

from chaos.disk.finding import disk_control
from chaos.disk.nodes import power_cut
from chaos.pytest_plugin import make_cluster, running
from cluster.client import KvClient, errors
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until, wait_until_async
from services.raft.node import EXIT_STORAGE_FAILED
from services.runtime.topology import Group
from tests.integration.kvcheck import direct_stub

pytestmark = pytest.mark.integration

KV3 = (Group("kv", 3),)


def kv_nodes(cluster: LocalCluster) -> list[str]:
    return [n.id for n in cluster.topology.group_nodes("kv")]


async def write_keys(cluster: LocalCluster, count: int) -> list[str]:
    keys = [f"k{i:04d}" for i in range(count)]
    async with KvClient.for_topology(cluster.topology) as kv:
        await asyncio.gather(*(kv.put(k, b"v") for k in keys))
    return keys


async def keys_present(cluster: LocalCluster) -> set[str]:
    async with KvClient.for_topology(cluster.topology, timeout_s=5.0) as kv:
        got = await kv.range("k", limit=10_000)
    return {item.key for item in got.kvs}


@pytest.mark.parametrize(
    ("fsync", "survives"), [("batch", True), ("always", True), ("never", False)]
)
async def test_a_whole_cluster_power_cut_keeps_acknowledged_writes_only_if_fsynced(
    tmp_path: Path, fsync: str, survives: bool
) -> None:
    cluster = make_cluster(tmp_path, KV3, node_env={"FAULTLAB_FSYNC": fsync})
    with running(cluster, lazy_disks=True):
        acknowledged = await write_keys(cluster, 100)
        reports = await asyncio.to_thread(power_cut, cluster, kv_nodes(cluster))
        await asyncio.to_thread(cluster.wait_for_leader)
        present = await keys_present(cluster)
    if survives:
        assert set(acknowledged) <= present
    else:  # nothing was ever fsynced: every acknowledged write is gone
        assert present == set()
        assert all(r["bytes_dropped"] > 0 for r in reports.values())


async def test_a_failing_fsync_stops_the_leader_instead_of_acknowledging(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, KV3)
    with running(cluster, lazy_disks=True):
        leader = cluster.wait_for_leader()
        disk_control(cluster.run_dir, leader).set_faults(fsync_error=True)
        channel, stub = direct_stub(cluster, leader)
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.Put(kv_pb2.PutRequest(key="k", value=b"v"), timeout=5.0)
        assert not errors.definite(failed.value)  # it may yet commit on the other two
        wait_until(lambda: cluster.returncode(leader) is not None, 10.0, f"{leader} to stop")
        assert cluster.returncode(leader) == EXIT_STORAGE_FAILED
        assert "raft_storage_failed" in cluster.log_path(leader).read_text()
        # The other two go on; the stopped node comes back once its disk works again.
        new_leader = cluster.wait_for_leader(among=[n for n in kv_nodes(cluster) if n != leader])
        disk_control(cluster.run_dir, leader).clear_faults()
        cluster.kill(leader)  # reap it, so it can start again
        cluster.start_node(leader)
        async with KvClient.for_topology(cluster.topology) as kv:
            await kv.put("after", b"ok")
        assert new_leader != leader


TRIALS = 50


async def test_power_cuts_at_random_moments_lose_no_acknowledged_write(tmp_path: Path) -> None:
    """The crash-durability trials: writers run without pause while the whole cluster
    loses power at a random moment, TRIALS times; every cut tears each file's un-fsynced
    tail at a random byte (some of it zeros). Snapshots every 40 entries put the snapshot
    and compaction code under the cuts too. fsync=batch must lose nothing acknowledged,
    and every node must recover every time (power_cut waits for each to serve)."""
    env = {"FAULTLAB_FSYNC": "batch", "FAULTLAB_SNAPSHOT_EVERY": "40"}
    cluster = make_cluster(tmp_path, KV3, node_env=env)
    rng = random.Random(20261123)
    acknowledged: list[str] = []
    with running(cluster, lazy_disks=True):
        stop = asyncio.Event()
        powered = asyncio.Event()  # clear from a power cut until a leader is back
        powered.set()

        async def writer(name: str) -> None:
            async with KvClient.for_topology(cluster.topology, timeout_s=1.0, attempts=2) as kv:
                n = 0
                while not stop.is_set():
                    n += 1
                    try:
                        await kv.put(f"k/{name}/{n}", b"v")
                    except grpc.aio.AioRpcError:  # its outcome unknown: not counted
                        await powered.wait()  # the client backs off itself meanwhile
                        continue
                    acknowledged.append(f"k/{name}/{n}")

        writers = [asyncio.create_task(writer(f"w{i}")) for i in range(3)]
        torn_bytes = 0
        try:
            for trial in range(TRIALS):
                target = len(acknowledged) + rng.randint(1, 30)  # a random moment
                more = functools.partial(_at_least, acknowledged, target)
                await wait_until_async(more, 30.0, "more acknowledged writes", interval_s=0.005)
                powered.clear()
                reports = await asyncio.to_thread(power_cut, cluster, kv_nodes(cluster), trial)
                torn_bytes += sum(r["bytes_dropped"] for r in reports.values())
                await asyncio.to_thread(cluster.wait_for_leader)
                powered.set()
        finally:
            stop.set()
            powered.set()
            await asyncio.gather(*writers)
        async with KvClient.for_topology(cluster.topology, timeout_s=5.0) as kv:
            got = await kv.range("k/", limit=10_000)
        assert not got.more
        present = {item.key for item in got.kvs}
    lost = sorted(set(acknowledged) - present)
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged writes lost: {lost[:10]}"
    assert torn_bytes > 0, "no cut ever hit un-fsynced data: the trials tested nothing"
    print(
        f"{TRIALS} power cuts, {len(acknowledged)} acknowledged writes, none lost; "
        f"{torn_bytes} un-fsynced bytes dropped"
    )


async def _at_least(items: list[str], count: int) -> bool:
    return len(items) >= count
