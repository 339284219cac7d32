"""librdkafka (confluent-kafka) producing to a topic for the run, in a process of its own
through the log nodes' Kafka ports, then reading the whole topic back: kafka-lost-ack's
workload and the scenario API's `workloads.kafka_produce`. Judged by the log checker
(checkers.no_acknowledged_loss)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chaos.history import History
from chaos.kafka_children import kafka_client
from services.runtime.topology import Topology

FINISH_S = 60.0  # librdkafka flushes what is in flight (message.timeout.ms 10 s), then exits
KAFKA_ACKS = ("1", "all")  # acks=all turns idempotence on as well


@dataclass(frozen=True)
class KafkaProduceSpec:
    acks: str  # "1" or "all"
    topic: str


async def run(
    spec: KafkaProduceSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    args = ("--acks", spec.acks, "--duration-s", str(duration_s))
    async with kafka_client(history, topology, "produce", spec.topic, *args) as producer:
        async with asyncio.timeout(duration_s + FINISH_S):
            await producer._reader
        await producer.finish(FINISH_S)
    async with kafka_client(history, topology, "read-all", spec.topic) as reader:
        await reader.finish(FINISH_S)
