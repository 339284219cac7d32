"""kafka-lost-ack: lost-ack with librdkafka (confluent-kafka) in a process of its own,
through the log nodes' Kafka ports.

The same fault as lost-ack: midway, the partition's Raft leader is cut from its two
followers while clients still reach it, for well past an election timeout. The producer
is librdkafka's, as an application runs it: acks=1 (unsafe) or acks=all with
idempotence (safe). The final read is librdkafka's too, the whole partition from its
start. The log checker judges, as for lost-ack.

Unsafe: the cut-off leader goes on acknowledging acks=1 batches it alone holds until
CheckQuorum deposes it; the new leader never had them, and acknowledged records are
lost. Safe: acks=all is answered only after the Raft commit; the cut-off leader
acknowledges nothing (librdkafka retries elsewhere, or reports a timeout: indefinite) and
every acknowledged record is read back.
"""

from __future__ import annotations

import asyncio

from chaos import kafka_produce, producing
from chaos.experiments import lost_ack
from chaos.experiments.base import Experiment, Mode
from chaos.kafka_produce import KafkaProduceSpec
from chaos.nemesis import Fault, isolate_leader
from cluster.backend import Cluster
from services.runtime.topology import Group, Topology

TOPIC = "kafka-lost-ack"


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[KafkaProduceSpec, list[Fault]]:
    """lost-ack's fault: a topic of one partition, led; its leader cut from its followers
    for the same share of the run."""
    [group] = asyncio.run(producing.create_topic(cluster.topology, TOPIC))
    cluster.wait_for_leader(group=group, timeout_s=20.0)
    start, end = lost_ack.ISOLATED_FROM, lost_ack.ISOLATED_UNTIL
    fault = isolate_leader(
        "isolate-leader", start * duration_s, (end - start) * duration_s, group=group
    )
    return KafkaProduceSpec(str(mode.settings["acks"]), TOPIC), [fault]


EXPERIMENT = Experiment(
    name="kafka-lost-ack",
    title="librdkafka with acks=1: a leader acknowledges records its followers never get",
    sources=(
        "Apache Kafka documentation, producer config acks (acks=1: lost if the leader "
        "fails right after acknowledging)",
        "librdkafka CONFIGURATION.md: acks, enable.idempotence",
        "Jepsen, analyses of Kafka (2013) and Redpanda 21.10.1 (2022)",
    ),
    hypothesis=(
        "A Kafka producer with acks=1 is acknowledged once the partition leader alone has "
        "appended its batch. Cut off from its followers, the leader keeps acknowledging "
        "until it notices, while the followers elect a new leader without those records. "
        "Unsafe (librdkafka, acks=1): acknowledged records vanish (lost-write > 0). Safe "
        "(acks=all, idempotence on): the cut-off leader acknowledges nothing and every "
        "acknowledged record is read back (lost-write = 0)."
    ),
    unsafe=Mode("unsafe", "librdkafka producer, acks=1", {}, True, settings={"acks": "1"}),
    safe=Mode(
        "safe", "librdkafka producer, acks=all and idempotence", {}, False, settings={"acks": "all"}
    ),
    plan=plan,
    judge=lost_ack.EXPERIMENT.judge,
    doc="docs/experiments/kafka-lost-ack.md",
    topology=Topology.build("127.0.0.1", 0, (Group("log", 3),)),
    workload=kafka_produce.run,
    leader_group="log/meta",
)
