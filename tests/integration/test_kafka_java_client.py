"""Apache Kafka's own Java client (kafka-clients 4.1, fetched from Maven Central by `make
kafka`, run by the machine's JDK) producing with acks=all and idempotence, then reading
back in a consumer group that commits: every record read at the offset its send was
acknowledged with, and the group's offsets at the log's end."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from cluster import kafka_peer
from cluster.client import LogClient
from tests.integration.kafka import bootstrap, kafka_cluster, real_kafka

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).resolve().parents[1] / "clients" / "java" / "KafkaRoundTrip.java"
RUN_S = 180.0


def test_the_java_client_produces_and_a_group_reads_it_all_back(tmp_path: Path) -> None:
    real_kafka()
    with kafka_cluster(tmp_path) as cluster:

        async def made() -> None:
            log = LogClient.for_topology(cluster.topology, timeout_s=10.0)
            await log.create_topic("java", 3)
            await log.wait_until_ready("java")

        asyncio.run(made())
        done = subprocess.run(
            ["java", "-cp", f"{kafka_peer.LIBS}/*", str(PROGRAM), bootstrap(cluster), "java", "90"],
            capture_output=True,
            text=True,
            timeout=RUN_S,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    sent = {(x["value"], x["partition"], x["offset"]) for x in lines if x["f"] == "sent"}
    read = {(x["value"], x["partition"], x["offset"]) for x in lines if x["f"] == "read"}
    assert len(sent) == 90 and read == sent
    ends: dict[str, int] = {}
    for _, partition, offset in sent:
        ends[str(partition)] = max(ends.get(str(partition), 0), offset + 1)
    (committed,) = [x["offsets"] for x in lines if x["f"] == "committed"]
    assert committed == ends
