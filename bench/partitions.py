"""What a log broker costs against the number of partitions: on a fresh 3-node cluster per
size, the time to create a topic of 1, 16, 64 and 256 partitions until every partition is
led, then each node's idle CPU (over 10 s, nothing produced) and resident memory; and
produce throughput at 1, 16 and 64 partitions with one BatchingProducer spreading
one-record sends over them (100-byte records, acks=ALL) under four loads: 256
outstanding in all, 64 or 256 outstanding per partition sent round robin, and 64
outstanding per partition with each sender pinned to one (as Kafka's sticky partitioner
fills one partition's batch at a time), with each process's CPU and the machine's busy
cores meanwhile, to show where it stops.

Every size runs twice in the same run: with quiescence off (FAULTLAB_QUIESCE=0, how log
nodes ran before it) and on (their default now).

    python bench/partitions.py [--idle-seconds 10] [--produce-seconds 5] [--rounds 3]

Each produce cell is the median of `--rounds` rounds on the same cluster (every round's
records/s is kept beside it).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import uvloop

from cluster.client import BatchingProducer, LogClient
from cluster.launcher import LocalCluster
from services.runtime.topology import Group, Topology

RESULTS = Path(__file__).parent / "results" / "partitions.json"
SIZES = (1, 16, 64, 256)
PRODUCE_SIZES = (1, 16, 64)


@dataclass(frozen=True)
class Load:
    in_all: int  # sends outstanding in all
    per_partition: int  # and per partition
    # Each sender keeps to one partition: a partition always has `per_partition` sends
    # waiting, as Kafka's sticky partitioner fills one partition's batch at a time.
    # Otherwise each send goes to the next partition round robin: a partition's sends
    # come and go in two alternating halves (one request in flight, the other half
    # queued), so at many partitions its requests carry half as many records as at one.
    pinned: bool = False

    def senders(self, partitions: int) -> int:
        return self.in_all + self.per_partition * partitions


LOADS = {
    "256 outstanding in all": Load(256, 0),
    "64 outstanding per partition": Load(0, 64),
    "256 outstanding per partition": Load(0, 256),
    "64 outstanding per partition, pinned": Load(0, 64, pinned=True),
}
LOG_NODES = ["log1", "log2", "log3"]
LED_WITHIN_S = 120.0  # past this a size is reported as not fully led
POLL_S = 0.2
RECORD = b"x" * 100
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def machine_jiffies() -> tuple[int, int]:
    """(idle, all) clock ticks of every CPU since boot, from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait


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


async def produce(
    cluster: LocalCluster, topic: str, partitions: int, load: Load, seconds: float
) -> dict[str, object]:
    """Records/s and requests/s with the load's one-record sends, round robin over the
    partitions or each sender on its own; the CPU each process used meanwhile (share of a
    core, Toxiproxy's too) and how many of the machine's cores were busy (everything, the
    bench's client included)."""
    pids = cluster.pids() | {"client": os.getpid()}
    async with (
        LogClient.for_topology(cluster.topology, timeout_s=10.0) as log,
        BatchingProducer(log) as producer,
    ):
        await log.wait_until_ready(topic, timeout_s=LED_WITHIN_S)
        turn = itertools.count()
        sent = 0
        deadline = time.monotonic() + seconds

        async def sender(pinned_to: int | None) -> None:
            nonlocal sent
            while time.monotonic() < deadline:
                where = next(turn) % partitions if pinned_to is None else pinned_to
                await producer.send(topic, RECORD, partition=where)
                sent += 1

        before = {n: cpu_s(p) for n, p in pids.items()}
        idle_before, all_before = machine_jiffies()
        started = time.monotonic()
        outstanding = load.senders(partitions)
        await asyncio.gather(
            *(sender(i % partitions if load.pinned else None) for i in range(outstanding))
        )
        elapsed = time.monotonic() - started
        idle_after, all_after = machine_jiffies()
        cores_busy = CORES * (1 - (idle_after - idle_before) / max(all_after - all_before, 1))
        return {
            "outstanding": outstanding,
            "records_per_s": round(sent / elapsed),
            "requests_per_s": round(producer.requests / elapsed),  # batches, one partition each
            "calls_per_s": round(producer.calls / elapsed),  # gRPC calls carrying them
            "cpu_share_of_a_core": {
                n: round((cpu_s(p) - before[n]) / elapsed, 2) for n, p in pids.items()
            },
            "machine_cores_busy": round(cores_busy, 2),
            "machine_cpu_us_per_record": round(cores_busy * elapsed / max(sent, 1) * 1e6, 1),
        }


def median_round(
    cluster: LocalCluster, topic: str, partitions: int, load: Load, seconds: float, rounds: int
) -> dict[str, object]:
    """The load run `rounds` times on one cluster: the round with the median records/s,
    with every round's records/s beside it. This VM moves 10-15% between rounds of the
    same code, so one round's ratio decides nothing."""
    runs = [
        uvloop.run(produce(cluster, topic, partitions, load, seconds))  # on uvloop, as nodes
        for _ in range(rounds)
    ]
    ordered = sorted(runs, key=lambda r: cast(int, r["records_per_s"]))
    return {
        **ordered[len(ordered) // 2],
        "records_per_s_rounds": [r["records_per_s"] for r in runs],
    }


def log_size(
    folder: Path, partitions: int, idle_s: float, produce_s: float, quiesce: bool, rounds: int
) -> dict[str, object]:
    topology = Topology.build("127.0.0.1", 0, (Group("log", 3),))
    env = {"FAULTLAB_QUIESCE": "1" if quiesce else "0"}
    with LocalCluster(topology, folder, node_env=env) as cluster:
        cluster.wait_for_leader(group="log/meta")
        created = asyncio.run(create_led(cluster, "t", partitions))
        asyncio.run(preferred_leaders(cluster, "t"))
        result: dict[str, object] = {
            "partitions": partitions,
            "raft_groups_per_node": partitions + 2,
            **created,
            "idle": idle(cluster, LOG_NODES, idle_s),
        }
        if partitions in PRODUCE_SIZES:
            result["produce"] = {
                name: median_round(cluster, "t", partitions, load, produce_s, rounds)
                for name, load in LOADS.items()
            }
        return result


def goals(sizes: list[dict[str, Any]]) -> dict[str, object]:
    """The issue's goals, read off this run: idle CPU per node and time to lead at 256
    partitions; produce at 64 partitions against 1, under each load."""
    by = {s["partitions"]: s for s in sizes}
    out: dict[str, object] = {}
    if 256 in by:
        out["idle_cpu_per_node_at_256_max"] = max(
            v["cpu_share_of_a_core"] for v in by[256]["idle"].values()
        )
        out["seconds_until_256_led"] = by[256]["seconds_until_all_led"]
    if 1 in by and 64 in by:
        out["produce_64_over_1"] = {
            load: round(
                by[64]["produce"][load]["records_per_s"]
                / max(by[1]["produce"][load]["records_per_s"], 1),
                2,
            )
            for load in LOADS
        }
        # The most 64 partitions could carry over 1 if a record cost the machine what it
        # costs at 1 partition: every core busy, against the cores one partition keeps busy.
        out["produce_64_over_1_bound_at_equal_cost"] = {
            load: round(CORES / max(by[1]["produce"][load]["machine_cores_busy"], 0.01), 2)
            for load in LOADS
        }
    return out


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
    p.add_argument("--rounds", type=int, default=3, help="produce rounds per cell: the median")
    p.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = p.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, quiesce in (("quiesce_off", False), ("quiesce_on", True)):
            sizes = [
                log_size(
                    Path(tmp) / f"{name}-{n}",
                    n,
                    args.idle_seconds,
                    args.produce_seconds,
                    quiesce,
                    args.rounds,
                )
                for n in args.sizes
            ]
            results[name] = {"sizes": sizes, "goals": goals(sizes)}
        results["kv_and_lock_one_group_each"] = one_group_nodes(
            Path(tmp) / "kv-lock", args.idle_seconds
        )
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
