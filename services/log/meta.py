"""The broker's metadata state machine (Kafka's controller, KRaft's metadata log): topics
with their partitions' replicas, and idempotent producers' ids and epochs. One Raft group
(`log/meta`) on every log node holds it, so every node learns of a topic by applying the
same command, and creates the Raft groups of the partitions it hosts (`partitions.py`).

Commands (commands.py) and what each returns (results.py):
    CreateTopic     -> TopicCreated | Refusal TOPIC_EXISTS
    DeleteTopic     -> TopicDeleted
    InitProducer    -> ProducerInitialized

Snapshot (format 1): {"v": 1, "topics": [TopicMeta map], "producers": {id: epoch},
"producer_names": {name: id}, "next_producer_id"}. Format 0 held topics as lists.
"""

from __future__ import annotations

from collections.abc import Callable

from services.log import results
from services.log.commands import META_COMMANDS, CreateTopic, DeleteTopic, MetaCommand
from services.log.placement import assign_replicas
from services.log.results import ProducerInitialized, TopicCreated, TopicDeleted
from services.log.topic import TopicMeta
from services.replicated.codec import FORMAT, pack, snapshot_version, unpack
from services.replicated.refusal import Refusal

MetaResult = TopicCreated | TopicDeleted | ProducerInitialized | Refusal

GROUP = "log/meta"


Listener = Callable[[], None]


class MetaState:
    def __init__(self) -> None:
        self.topics: dict[str, TopicMeta] = {}
        self.producers: dict[int, int] = {}  # named producer's id -> its current epoch
        self.producer_names: dict[str, int] = {}  # stable name -> producer id
        self.next_producer_id = 1
        self.listeners: set[Listener] = set()  # told after any change to topics

    # -- the StateMachine seam ------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> MetaResult:
        cmd: MetaCommand = META_COMMANDS.decode(command)
        if isinstance(cmd, CreateTopic):
            return self._create_topic(index, cmd)
        if isinstance(cmd, DeleteTopic):
            return self._delete_topic(cmd.name)
        return self._init_producer(cmd.name)

    def snapshot(self) -> bytes:
        return pack(
            {
                "v": FORMAT,
                "topics": [t.to_map() for t in self.topics.values()],
                "producers": self.producers,
                "producer_names": self.producer_names,
                "next_producer_id": self.next_producer_id,
            }
        )

    def restore(self, data: bytes) -> None:
        state = unpack(data)
        if snapshot_version(state) == 0:
            topics = [TopicMeta.from_format0(f) for f in state["topics"]]
        else:
            topics = [TopicMeta.from_map(m) for m in state["topics"]]
        self.topics = {t.name: t for t in topics}
        self.producers = dict(state["producers"])
        self.producer_names = dict(state["producer_names"])
        self.next_producer_id = state["next_producer_id"]
        self._changed()

    # -- commands ---------------------------------------------------------------------------

    def _create_topic(self, index: int, cmd: CreateTopic) -> TopicCreated | Refusal:
        if cmd.name in self.topics:
            return results.topic_exists(cmd.name)
        replicas = assign_replicas(cmd.nodes, cmd.partitions, cmd.replication, index)
        topic = TopicMeta(
            cmd.name,
            index,
            tuple(tuple(r) for r in replicas),
            cmd.replication,
            cmd.retention,
        )
        self.topics[topic.name] = topic
        self._changed()
        return TopicCreated(topic)

    def _delete_topic(self, name: str) -> TopicDeleted:
        if self.topics.pop(name, None) is None:
            return TopicDeleted(False)
        self._changed()
        return TopicDeleted(True)

    def _init_producer(self, name: str) -> ProducerInitialized:
        pid = self.producer_names.get(name) if name else None
        if pid is None:
            pid = self.next_producer_id
            self.next_producer_id += 1
            if name:  # an anonymous producer never gets a second epoch: nothing to keep
                self.producer_names[name] = pid
                self.producers[pid] = 0
        else:
            self.producers[pid] += 1
        return ProducerInitialized(pid, self.producers.get(pid, 0))

    # -- reads ----------------------------------------------------------------------------

    def epoch_of(self, producer_id: int) -> int | None:
        """The producer's current epoch; None for an id never issued."""
        if not 1 <= producer_id < self.next_producer_id:
            return None
        return self.producers.get(producer_id, 0)

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()
