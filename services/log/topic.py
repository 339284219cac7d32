"""`TopicMeta`: a topic as the metadata log holds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.log.placement import partition_group


@dataclass(frozen=True)
class TopicMeta:
    name: str
    topic_id: int  # the index of the command that created it: unique for ever
    replicas: tuple[tuple[str, ...], ...]  # per partition; the first is the preferred leader
    replication: int
    retention: tuple[int, int, int]  # max records, max bytes, max age ms (0: unlimited)

    @property
    def partitions(self) -> int:
        return len(self.replicas)

    def group(self, partition: int) -> str:
        return partition_group(self.name, self.topic_id, partition)

    def to_map(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "topic_id": self.topic_id,
            "replicas": [list(r) for r in self.replicas],
            "replication": self.replication,
            "retention": list(self.retention),
        }

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> TopicMeta:
        return cls.from_format0(
            [m["name"], m["topic_id"], m["replicas"], m["replication"], m["retention"]]
        )

    @classmethod
    def from_format0(cls, f: list[Any]) -> TopicMeta:
        """Format 0 snapshots held a topic as [name, id, replicas, replication, retention]."""
        r = f[4]
        return cls(f[0], f[1], tuple(tuple(p) for p in f[2]), f[3], (r[0], r[1], r[2]))
