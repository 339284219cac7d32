"""The broker's metadata state machine (Kafka's controller, KRaft's metadata log): topics
with their partitions' replicas, and idempotent producers' ids and epochs. One Raft group
(`log/meta`) on every log node holds it, so every node learns of a topic by applying the
same command, and creates the Raft groups of the partitions it hosts (`partitions.py`).

Commands (msgpack maps):
    {"op": "create_topic", "name", "partitions", "replication", "retention": [records,
     bytes, age_ms], "nodes": [...]}   -> {"topic": [...]} | {"error": "exists"}
    {"op": "delete_topic", "name"}     -> {"deleted": bool}
    {"op": "init_producer", "name"}    -> {"producer_id", "epoch"}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from services.log import commands
from services.log.placement import assign_replicas, partition_group

GROUP = "log/meta"


@dataclass(frozen=True)
class TopicMeta:
    name: str
    topic_id: int
    replicas: tuple[tuple[str, ...], ...]  # per partition; the first is the preferred leader
    replication: int
    retention: tuple[int, int, int]  # max records, max bytes, max age ms (0: unlimited)

    @property
    def partitions(self) -> int:
        return len(self.replicas)

    def group(self, partition: int) -> str:
        return partition_group(self.name, self.topic_id, partition)

    def fields(self) -> list[Any]:
        return [
            self.name,
            self.topic_id,
            [list(r) for r in self.replicas],
            self.replication,
            list(self.retention),
        ]

    @classmethod
    def from_fields(cls, f: list[Any]) -> TopicMeta:
        return cls(f[0], f[1], tuple(tuple(r) for r in f[2]), f[3], tuple(f[4]))


Listener = Callable[[], None]


class MetaState:
    def __init__(self) -> None:
        self.topics: dict[str, TopicMeta] = {}
        self.producers: dict[int, int] = {}  # named producer's id -> its current epoch
        self.producer_names: dict[str, int] = {}  # stable name -> producer id
        self.next_producer_id = 1
        self.listeners: set[Listener] = set()  # told after any change to topics

    # -- the StateMachine seam ------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> dict[str, Any]:
        cmd = commands.decode(command)
        op = cmd["op"]
        if op == "create_topic":
            return self._create_topic(index, cmd)
        if op == "delete_topic":
            return self._delete_topic(cmd["name"])
        if op == "init_producer":
            return self._init_producer(cmd["name"])
        raise AssertionError(f"unknown command {op!r}: a replica is out of date")

    def snapshot(self) -> bytes:
        state = {
            "topics": [t.fields() for t in self.topics.values()],
            "producers": self.producers,
            "producer_names": self.producer_names,
            "next_producer_id": self.next_producer_id,
        }
        out: bytes = msgpack.packb(state, use_bin_type=True)
        return out

    def restore(self, data: bytes) -> None:
        state = msgpack.unpackb(data, raw=False, strict_map_key=False)
        self.topics = {f[0]: TopicMeta.from_fields(f) for f in state["topics"]}
        self.producers = dict(state["producers"])
        self.producer_names = dict(state["producer_names"])
        self.next_producer_id = state["next_producer_id"]
        self._changed()

    # -- commands ---------------------------------------------------------------------------

    def _create_topic(self, index: int, cmd: dict[str, Any]) -> dict[str, Any]:
        if cmd["name"] in self.topics:
            return {"error": "exists", "topic": self.topics[cmd["name"]].fields()}
        replicas = assign_replicas(cmd["nodes"], cmd["partitions"], cmd["replication"], index)
        topic = TopicMeta(
            cmd["name"],
            index,
            tuple(tuple(r) for r in replicas),
            cmd["replication"],
            tuple(cmd["retention"]),
        )
        self.topics[topic.name] = topic
        self._changed()
        return {"topic": topic.fields()}

    def _delete_topic(self, name: str) -> dict[str, Any]:
        if self.topics.pop(name, None) is None:
            return {"deleted": False}
        self._changed()
        return {"deleted": True}

    def _init_producer(self, name: str) -> dict[str, Any]:
        pid = self.producer_names.get(name) if name else None
        if pid is None:
            pid = self.next_producer_id
            self.next_producer_id += 1
            if name:  # an anonymous producer never gets a second epoch: nothing to keep
                self.producer_names[name] = pid
                self.producers[pid] = 0
        else:
            self.producers[pid] += 1
        return {"producer_id": pid, "epoch": self.producers.get(pid, 0)}

    # -- reads ----------------------------------------------------------------------------

    def epoch_of(self, producer_id: int) -> int | None:
        """The producer's current epoch; None for an id never issued."""
        if not 1 <= producer_id < self.next_producer_id:
            return None
        return self.producers.get(producer_id, 0)

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()
