"""kcat (Debian's, librdkafka inside) against the log nodes' Kafka ports: metadata, produce
from stdin, consume from the beginning, a group consumer, and one store shared with
faultlab.log.v1 (records and a group's offsets, either way)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.client import LogClient
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from tests.integration.kafka import kafka_cluster, kcat

pytestmark = pytest.mark.integration

# A group without committed offsets starts at the beginning (kcat's -o would override the
# group's committed offsets too).
EARLIEST = ("-X", "auto.offset.reset=earliest")
LEADER_S = 30.0


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with kafka_cluster(tmp_path_factory.mktemp("kcat")) as cluster:
        yield cluster


def client(cluster: LocalCluster) -> LogClient:
    return LogClient.for_topology(cluster.topology, timeout_s=10.0)


def _metadata_with_a_leader(log: LocalCluster, topic: str) -> dict[str, Any] | None:
    """kcat -L's metadata of `topic`, once it names partition 0's leader. The broker asked
    may not have heard from a new partition's leader yet (on a busy machine its replica of
    the group may not even exist yet): it answers leader -1, as a Kafka broker whose
    metadata cache lags does, and clients ask again."""
    shown: dict[str, Any] = json.loads(kcat(log, "-L", "-J", "-t", topic))
    (described,) = shown["topics"]
    return shown if described["partitions"][0]["leader"] != -1 else None


def test_metadata_names_each_log_node_a_broker_at_its_kafka_link(log: LocalCluster) -> None:
    kcat(log, "-P", "-t", "meta", stdin="x\n")  # made on first use, as auto.create does
    shown = wait_until(
        lambda: _metadata_with_a_leader(log, "meta"), LEADER_S, "metadata naming a leader"
    )
    wire = log.topology.wire_addresses("log")
    brokers = {b["id"]: b["name"] for b in shown["brokers"]}
    assert brokers == dict(zip((1, 2, 3), wire, strict=True))
    assert shown["controllerid"] in (1, 2, 3)
    (topic,) = shown["topics"]
    assert topic["topic"] == "meta"
    (partition,) = topic["partitions"]
    assert partition["leader"] in (1, 2, 3)
    assert sorted(r["id"] for r in partition["replicas"]) == [1, 2, 3]


def test_what_kcat_produces_from_stdin_it_consumes_from_the_beginning(log: LocalCluster) -> None:
    kcat(log, "-P", "-t", "lines", "-K", ":", "-H", "trace=7", stdin="k1:one\nk2:two\n:three\n")
    out = kcat(log, "-C", "-t", "lines", "-o", "beginning", "-e", "-f", "%p %o %k=%s %h\n")
    assert out == "0 0 k1=one trace=7\n0 1 k2=two trace=7\n0 2 =three trace=7\n"
    # from an offset, and the last one only
    assert kcat(log, "-C", "-t", "lines", "-o", "2", "-e", "-f", "%s\n") == "three\n"
    assert kcat(log, "-C", "-t", "lines", "-o", "-1", "-e", "-f", "%s\n") == "three\n"


def test_a_kcat_group_reads_each_record_once_and_its_offsets_stay(log: LocalCluster) -> None:
    asyncio.run(client(log).create_topic("grouped", 3))
    values = [f"r{i}" for i in range(30)]
    kcat(
        log,
        "-P",
        "-t",
        "grouped",
        "-K",
        ":",
        stdin="".join(f"{i}:{v}\n" for i, v in enumerate(values)),
    )
    first = kcat(log, "-G", "g1", "grouped", *EARLIEST, "-e", "-f", "%s\n")
    assert sorted(first.split()) == sorted(values)
    kcat(log, "-P", "-t", "grouped", "-p", "1", stdin="late\n")
    again = kcat(log, "-G", "g1", "grouped", *EARLIEST, "-e", "-f", "%s\n")
    assert again.split() == ["late"], "the group resumes from its committed offsets"


def test_one_store_records_and_group_offsets_cross_between_the_doors(log: LocalCluster) -> None:
    async def through_faultlab() -> tuple[list[bytes], dict[tuple[str, int], int]]:
        sdk = client(log)
        await sdk.create_topic("both", 1)
        await sdk.produce("both", [(b"from", b"faultlab")], partition=0)
        kcat(log, "-P", "-t", "both", "-K", ":", stdin="from:kafka\n")
        kcat(log, "-G", "g-both", "both", *EARLIEST, "-e", "-f", "%s\n")
        fetched = await sdk.fetch("both", 0, 0)
        return [r.value for r in fetched.records], await sdk.fetch_offsets("g-both")

    values, offsets = asyncio.run(through_faultlab())
    assert values == [b"faultlab", b"kafka"]
    assert offsets == {("both", 0): 2}
    assert (
        kcat(log, "-C", "-t", "both", "-o", "beginning", "-e", "-f", "%k=%s\n")
        == "from=faultlab\nfrom=kafka\n"
    )


def test_a_topic_deleted_is_gone_for_kafka_clients(log: LocalCluster, tmp_path: Path) -> None:
    kcat(log, "-P", "-t", "doomed", stdin="x\n")
    asyncio.run(client(log).delete_topic("doomed"))
    shown = json.loads(kcat(log, "-L", "-J"))
    assert "doomed" not in {t["topic"] for t in shown["topics"]}
