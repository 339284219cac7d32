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

from chaos.experiments import lost_ack
from chaos.experiments.base import Mode
from chaos.scenario import Scenario, checkers, faults, workloads

SCENARIO = Scenario(
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
    groups={"log": 3},
    workload=workloads.kafka_produce(topic="kafka-lost-ack"),
    timeline=[  # lost-ack's fault: the partition's leader cut from its followers
        faults.isolate("leader", start=lost_ack.ISOLATED_FROM, end=lost_ack.ISOLATED_UNTIL)
    ],
    checkers=[checkers.no_acknowledged_loss()],
    unsafe=Mode("unsafe", "librdkafka producer, acks=1", {}, True, settings={"acks": "1"}),
    safe=Mode(
        "safe", "librdkafka producer, acks=all and idempotence", {}, False, settings={"acks": "all"}
    ),
    doc="docs/experiments/kafka-lost-ack.md",
)

EXPERIMENT = SCENARIO.experiment()
