"""The Kafka door's view of the broker: which node is which Kafka broker, where Kafka
clients reach each, and the broker's Raft groups as the handlers use them.

Broker ids are the log nodes' indexes (log1 is broker 1); a broker's address is its Kafka
client link through Toxiproxy, so every network fault reaches Kafka clients as it reaches
faultlab's. A partition's leader is its Raft group's leader and its leader epoch that
group's term.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from services.log.kafka.controller import Controller
from services.log.partition import PartitionState
from services.log.servicer import LogServicer
from services.log.topic import TopicMeta
from services.replicated import ReplicatedGroup, UnknownGroup
from services.runtime.topology import Topology

CLUSTER_ID = "faultlab-log"
TOPIC_IDS = uuid.UUID("5b0f7e1c-6d4e-4c1a-9d7e-2f8f3c6a9b10")  # the namespace of topic ids

# Kafka's broker defaults, each with a FAULTLAB_KAFKA_ twin in the environment.
AUTO_CREATE_ENV = "FAULTLAB_KAFKA_AUTO_CREATE_TOPICS"  # auto.create.topics.enable
INITIAL_DELAY_ENV = "FAULTLAB_KAFKA_INITIAL_REBALANCE_DELAY_MS"  # group.initial.rebalance.delay.ms
MIN_SESSION_ENV = "FAULTLAB_KAFKA_MIN_SESSION_TIMEOUT_MS"  # group.min.session.timeout.ms
MAX_SESSION_ENV = "FAULTLAB_KAFKA_MAX_SESSION_TIMEOUT_MS"  # group.max.session.timeout.ms


@dataclass(frozen=True)
class BrokerConfig:
    auto_create_topics: bool = True
    initial_rebalance_delay_ms: int = 3000
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1_800_000

    @classmethod
    def from_env(cls) -> BrokerConfig:
        env = os.environ.get
        return cls(
            auto_create_topics=env(AUTO_CREATE_ENV, "true").lower() != "false",
            initial_rebalance_delay_ms=int(env(INITIAL_DELAY_ENV, "3000")),
            min_session_timeout_ms=int(env(MIN_SESSION_ENV, "6000")),
            max_session_timeout_ms=int(env(MAX_SESSION_ENV, "1800000")),
        )


@dataclass(frozen=True)
class Broker:
    node_id: str
    broker_id: int
    host: str
    port: int


class Door:
    def __init__(
        self, log: LogServicer, topology: Topology, config: BrokerConfig, peers: dict[str, str]
    ) -> None:
        self.log = log
        self.config = config
        self.controller = Controller(log, peers)
        self.brokers: dict[str, Broker] = {}
        for node_id in log.log_nodes:
            host, port = topology.wire_address(node_id).rsplit(":", 1)
            self.brokers[node_id] = Broker(node_id, topology.node(node_id).index, host, int(port))

    def broker_id(self, node_id: str) -> int:
        """The node's broker id; -1 (Kafka's "none") for "" or a node not in the group."""
        broker = self.brokers.get(node_id)
        return broker.broker_id if broker else -1

    def hosted(self, topic: TopicMeta, partition: int) -> ReplicatedGroup[PartitionState] | None:
        """The partition's group when this node is one of its replicas and runs it."""
        try:
            return self.log.partitions.group(topic.group(partition))
        except UnknownGroup:
            return None

    def leader_of(self, topic: TopicMeta, partition: int) -> tuple[int, int]:
        """(leader broker id, leader epoch) as this node knows them: its own group's
        leader and term where it is a replica, else the preferred replica with epoch -1
        (which sends the client on if it is not the leader). Broker -1: no leader now."""
        group = self.hosted(topic, partition)
        if group is None:
            return self.broker_id(topic.replicas[partition][0]), -1
        return self.broker_id(group.leader_id), group.term

    @staticmethod
    def topic_id(topic: TopicMeta) -> uuid.UUID:
        """A stable id for this incarnation of the topic (a topic made again gets another)."""
        return uuid.uuid5(TOPIC_IDS, f"{topic.name}/{topic.topic_id}")
