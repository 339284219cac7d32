"""Where a topic's partitions live: replicas by round robin over the log nodes, starting
one node further for each partition and each topic (Kafka's assignment), so partitions,
and with them preferred leaders, spread evenly. Pure: every node computes the same."""

from __future__ import annotations

from collections.abc import Sequence


def assign_replicas(
    nodes: Sequence[str], partitions: int, replication: int, topic_id: int
) -> list[list[str]]:
    """Partition p's replicas: `replication` consecutive nodes from (topic_id + p) mod n.
    The first is the preferred leader."""
    ordered = sorted(nodes)
    n = len(ordered)
    return [
        [ordered[(topic_id + p + i) % n] for i in range(replication)] for p in range(partitions)
    ]


def partition_group(topic: str, topic_id: int, partition: int) -> str:
    """The partition's Raft group id. The topic id (its creation index) keeps a topic
    deleted and created again from meeting the old one's replicas or files."""
    return f"log/{topic}.{topic_id}/{partition}"
