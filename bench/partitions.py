"""What a log broker costs against the number of partitions: on a fresh 3-node cluster per
size, the time to create a topic of 1, 16, 64 and 256 partitions until every partition is
led, then each node's idle CPU (over 10 s, nothing produced) and resident memory; and
produce throughput at 1, 16 and 64 partitions with one BatchingProducer spreading 256
outstanding one-record sends over them (100-byte records, acks=ALL).

    python bench/partitions.py [--idle-seconds 10] [--produce-seconds 5]

Writes bench/results/partitions.json. The KV and lock nodes (one Raft group each) are
measured idle the same way, as the floor a node with one group costs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

from cluster.client import BatchingProducer, LogClient
from cluster.launcher import LocalCluster
from services.runtime.topology import Group, Topology

RESULTS = Path(__file__).parent / "results" / "partitions.json"
SIZES = (1, 16, 64, 256)
PRODUCE_SIZES = (1, 16, 64)
LED_WITHIN_S = 120.0  # past this a size is reported as not fully led
POLL_S = 0.2
RECORD = b"x" * 100
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def idle(cluster: LocalCluster, nodes: list[str], seconds: float) -> dict[str, dict[str, float]]:
    pids = {n: cluster.pid(n) for n in nodes}
    before = {n: cpu_s(p) for n, p in pids.items()}
    time.sleep(seconds)
    return {
        n: {
            "cpu_share_of_a_core": round((cpu_s(p) - before[n]) / seconds, 3),
            "rss_mib": rss_mib(p),
        }
        for n, p in pids.items()
    }


async def create_led(cluster: LocalCluster, topic: str, partitions: int) -> dict[str, float]:
    """Seconds from CreateTopic until every partition has a leader serving it."""
    async with LogClient.for_topology(cluster.topology, timeout_s=30.0) as log:
        started = time.monotonic()
        await log.create_topic(topic, partitions=partitions, replication=3)
        led = 0
        while time.monotonic() - started < LED_WITHIN_S:
            described = await log.describe_topic(topic)
            led = sum(1 for p in described.partitions if p.leader)
            if led == partitions:
                break
            await asyncio.sleep(POLL_S)
        return {"seconds_until_all_led": round(time.monotonic() - started, 2), "led": led}


async def preferred_leaders(cluster: LocalCluster, topic: str) -> None:
    """Until every partition is led by its first replica: the moves that follow the
    elections are over, so the idle measure sees an idle cluster."""
    async with LogClient.for_topology(cluster.topology, timeout_s=30.0) as log:
        deadline = time.monotonic() + LED_WITHIN_S
        while time.monotonic() < deadline:
            described = await log.describe_topic(topic)
            if all(p.leader == p.replicas[0] for p in described.partitions):
                return
            await asyncio.sleep(POLL_S)


async def produce(cluster: LocalCluster, topic: str, partitions: int, seconds: float) -> int:
    """Records/s: 256 one-record sends outstanding, partition after partition."""
    async with (
        LogClient.for_topology(cluster.topology, timeout_s=10.0) as log,
        BatchingProducer(log) as producer,
    ):
        await log.wait_until_ready(topic, timeout_s=LED_WITHIN_S)
        turn = itertools.count()
        sent = 0
        deadline = time.monotonic() + seconds

        async def sender() -> None:
            nonlocal sent
            while time.monotonic() < deadline:
                await producer.send(topic, RECORD, partition=next(turn) % partitions)
                sent += 1

        started = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(256)))
        return round(sent / (time.monotonic() - started))


def log_size(folder: Path, partitions: int, idle_s: float, produce_s: float) -> dict[str, object]:
    topology = Topology.build("127.0.0.1", 0, (Group("log", 3),))
    with LocalCluster(topology, folder) as cluster:
        cluster.wait_for_leader(group="log/meta")
        created = asyncio.run(create_led(cluster, "t", partitions))
        asyncio.run(preferred_leaders(cluster, "t"))
        result: dict[str, object] = {
            "partitions": partitions,
            "raft_groups_per_node": partitions + 2,
            **created,
            "idle": idle(cluster, ["log1", "log2", "log3"], idle_s),
        }
        if partitions in PRODUCE_SIZES:
            result["produce_records_per_s"] = asyncio.run(
                produce(cluster, "t", partitions, produce_s)
            )
        return result


def one_group_nodes(folder: Path, idle_s: float) -> dict[str, dict[str, float]]:
    topology = Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("lock", 3)))
    with LocalCluster(topology, folder) as cluster:
        cluster.wait_for_leader()
        cluster.wait_for_leader(group="lock")
        return idle(cluster, ["kv1", "kv2", "kv3", "lock1", "lock2", "lock3"], idle_s)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--idle-seconds", type=float, default=10.0)
    p.add_argument("--produce-seconds", type=float, default=5.0)
    p.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sizes = [
            log_size(Path(tmp) / f"p{n}", n, args.idle_seconds, args.produce_seconds)
            for n in args.sizes
        ]
        floor = one_group_nodes(Path(tmp) / "kv-lock", args.idle_seconds)
    results = {"log": sizes, "kv_and_lock_one_group_each": floor}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
