"""Kafka's protocol on the log nodes beside a real Apache Kafka, in the same run on the same
machine, with the same load tool (bench/kafka_load.py, librdkafka): 100-byte records to a
topic of one partition with three replicas, acks=all, at 1 and 256 outstanding, one record
per request and librdkafka's batching; then the partition read back. NATS JetStream R3
(bench/log.py's run) stays as the third column.

    python bench/kafka.py [--seconds 5]

- Apache Kafka 4.1, three brokers in KRaft mode (cluster/kafka_peer.py, `make kafka`),
  replication 3; acks=all waits for the in-sync replicas, which have the batch in memory
  (Kafka leaves fsync to the OS by default).
- faultlab, three log nodes (fsync=batch: every acknowledged batch is on disk on a
  quorum), through each node's Kafka port and its Toxiproxy link.

Each run first produces for half its time unmeasured (the JVM compiles Kafka's hot paths
meanwhile); the read-back then reads the whole partition, warm-up included.

Writes bench/results/kafka.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from log import jetstream, nats_cluster  # bench/log.py, beside this file

from cluster import kafka_peer
from cluster.client import LogClient
from cluster.launcher import LocalCluster
from services.runtime.topology import Group, Topology

RESULTS = Path(__file__).parent / "results" / "kafka.json"
LOAD = Path(__file__).parent / "kafka_load.py"
SHAPES = [(1, False), (256, False), (1, True), (256, True)]  # (outstanding, batching)


def load(
    bootstrap: str, topic: str, seconds: float, outstanding: int, batching: bool
) -> dict[str, float]:
    argv = [sys.executable, str(LOAD), bootstrap, topic, "--seconds", str(seconds)]
    argv += ["--outstanding", str(outstanding)] + (["--batching"] if batching else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds * 10 + 120)
    if done.returncode != 0:
        raise SystemExit(f"the load tool failed against {bootstrap}: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def create_on_kafka(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])[topic].result(60)


def runs(bootstrap: str, seconds: float, make: object) -> list[dict[str, float]]:
    out = []
    for i, (outstanding, batching) in enumerate(SHAPES):
        topic = f"bench-{i}"  # a fresh topic each: its read-back reads what this run wrote
        make(topic)  # type: ignore[operator]
        out.append(load(bootstrap, topic, seconds, outstanding, batching))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with kafka_peer.kafka_cluster(Path(tmp) / "kafka", brokers=3) as kafka:
            theirs = runs(
                kafka.bootstrap, args.seconds, lambda t: create_on_kafka(kafka.bootstrap, t)
            )
        topology = Topology.build("127.0.0.1", 0, (Group("log", 3),))
        with LocalCluster(topology, Path(tmp) / "faultlab") as cluster:
            cluster.wait_for_leader(group="log/meta")
            bootstrap = ",".join(cluster.topology.wire_addresses("log"))

            def create(topic: str) -> None:
                async def made() -> None:
                    async with LogClient.for_topology(cluster.topology, timeout_s=10) as log:
                        await log.create_topic(topic, partitions=1, replication=3)
                        await log.wait_until_ready(topic)

                asyncio.run(made())

            ours = runs(bootstrap, args.seconds, create)
        (Path(tmp) / "nats").mkdir()
        with nats_cluster(Path(tmp) / "nats") as urls:
            nats_runs = asyncio.run(jetstream(urls, args.seconds))
    results = {
        "record_bytes": 100,
        "apache_kafka_4_1_r3": theirs,
        "faultlab_kafka_door_r3": ours,
        "nats_jetstream_r3": nats_runs,
        "ratio_to_kafka": {
            f"{o['outstanding']} outstanding, {_shape(o)}": {
                "produce": round(o["produce_records_per_s"] / k["produce_records_per_s"], 3),
                "consume": round(o["consume_records_per_s"] / k["consume_records_per_s"], 3),
            }
            for o, k in zip(ours, theirs, strict=True)
        },
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def _shape(run: dict[str, float]) -> str:
    return "batching" if run["batching"] else "one per request"


if __name__ == "__main__":
    main()
