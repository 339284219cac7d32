"""A Kafka client workload in a process of its own, written as a history for the log checker
(chaos/checkers/log.py): one JSON line per operation on stdout.

    python -m tests.clients.kafka_workload LIB produce BOOTSTRAP TOPIC --count N
    python -m tests.clients.kafka_workload LIB consume BOOTSTRAP TOPIC --group G --name c1
    python -m tests.clients.kafka_workload LIB read-all BOOTSTRAP TOPIC

LIB is confluent (librdkafka), kafka-python or aiokafka. `produce` sends N unique values
with acks=all and idempotence on, one operation each ("send": its offset when
acknowledged). `consume` polls as a member of group G, committing after each poll, until
its stdin closes; then it commits and leaves the group. `read-all` reads every partition
from its start to its end outside any group ("poll" operations of the process "final").
Each line: {"process", "f", "key": "topic/partition", "input", "output", "outcome",
"start_ns", "end_ns"}. The last line of `consume` is {"f": "committed", "output": {...}},
the group's offsets as the client fetched them after its last commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from typing import Any

POLL_S = 0.5
SESSION_MS = 6000  # Kafka's group.min.session.timeout.ms: the shortest a broker takes
PARTITIONS_WAIT_S = 60.0
ROUND_TRIP_S = 30.0


def emit(**op: Any) -> None:
    print(json.dumps(op), flush=True)


def now() -> int:
    return time.monotonic_ns()


def stdin_closed() -> threading.Event:
    """Set once stdin reaches its end: the test's way to say "stop"."""
    closed = threading.Event()

    def watch() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=watch, daemon=True).start()
    return closed


def polled(
    process: str, topic: str, by_partition: dict[int, list[tuple[int, str]]], start: int
) -> None:
    end = now()
    for partition, records in sorted(by_partition.items()):
        if records:
            emit(
                process=process,
                f="poll",
                key=f"{topic}/{partition}",
                input=None,
                output=records,
                outcome="ok",
                start_ns=start,
                end_ns=end,
            )


# -- librdkafka (confluent-kafka) ------------------------------------------------------------


def confluent_produce(bootstrap: str, topic: str, count: int) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 120000,
        }
    )
    started: dict[str, int] = {}

    def delivered(err: Any, msg: Any) -> None:
        value = msg.value().decode()
        key = f"{topic}/{msg.partition()}"
        if err is None:
            emit(
                process="producer",
                f="send",
                key=key,
                input=value,
                output=msg.offset(),
                outcome="ok",
                start_ns=started[value],
                end_ns=now(),
            )
        else:
            emit(
                process="producer",
                f="send",
                key=key,
                input=value,
                output=str(err),
                outcome="fail" if not err.retriable() else "info",
                start_ns=started[value],
                end_ns=now(),
            )

    for i in range(count):
        value = f"v{i}"
        started[value] = now()
        producer.produce(topic, value=value.encode(), key=str(i).encode(), on_delivery=delivered)
        producer.poll(0.005)
    producer.flush(120)


def confluent_consume(bootstrap: str, topic: str, group: str, name: str) -> None:
    from confluent_kafka import Consumer, KafkaException

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": SESSION_MS,
            "heartbeat.interval.ms": 500,
        }
    )
    consumer.subscribe([topic])
    closed = stdin_closed()
    while not closed.is_set():
        start = now()
        messages = consumer.consume(num_messages=200, timeout=POLL_S)
        by_partition: dict[int, list[tuple[int, str]]] = {}
        for m in messages:
            if m.error() is None:
                by_partition.setdefault(m.partition(), []).append((m.offset(), m.value().decode()))
        polled(name, topic, by_partition, start)
        if by_partition:
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as e:  # a rebalance under way: the next owner reads again
                emit(
                    process=name,
                    f="commit",
                    key=topic,
                    input=None,
                    output=str(e),
                    outcome="fail",
                    start_ns=start,
                    end_ns=now(),
                )
    partitions = consumer.assignment()
    committed = consumer.committed(partitions, timeout=ROUND_TRIP_S) if partitions else []
    consumer.close()
    emit(
        process=name,
        f="committed",
        key=topic,
        input=None,
        output={str(tp.partition): tp.offset for tp in committed},
        outcome="ok",
        start_ns=now(),
        end_ns=now(),
    )


def confluent_read_all(bootstrap: str, topic: str) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "read-all", "enable.auto.commit": False}
    )
    meta = consumer.list_topics(topic, timeout=ROUND_TRIP_S)
    for partition in sorted(meta.topics[topic].partitions):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=ROUND_TRIP_S
        )
        consumer.assign([TopicPartition(topic, partition, low)])
        records: list[tuple[int, str]] = []
        deadline = time.monotonic() + PARTITIONS_WAIT_S
        while (
            (not records or records[-1][0] < high - 1)
            and high > low
            and time.monotonic() < deadline
        ):
            for m in consumer.consume(num_messages=1000, timeout=POLL_S):
                if m.error() is None:
                    records.append((m.offset(), m.value().decode()))
        emit(
            process="final",
            f="poll",
            key=f"{topic}/{partition}",
            input=None,
            output=records,
            outcome="ok",
            start_ns=now(),
            end_ns=now(),
        )
    consumer.close()


# -- kafka-python ----------------------------------------------------------------------------


def kafka_python_produce(bootstrap: str, topic: str, count: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        delivery_timeout_ms=120000,
    )
    for i in range(count):
        value = f"v{i}"
        start = now()

        def done(meta: Any, value: str = value, start: int = start) -> None:
            emit(
                process="producer",
                f="send",
                key=f"{topic}/{meta.partition}",
                input=value,
                output=meta.offset,
                outcome="ok",
                start_ns=start,
                end_ns=now(),
            )

        def failed(exc: Any, value: str = value, start: int = start) -> None:
            emit(
                process="producer",
                f="send",
                key=f"{topic}/?",
                input=value,
                output=str(exc),
                outcome="info",
                start_ns=start,
                end_ns=now(),
            )

        producer.send(topic, key=str(i).encode(), value=value.encode()).add_callback(
            done
        ).add_errback(failed)
        time.sleep(0.005)
    producer.flush(120)
    producer.close()


def kafka_python_consume(bootstrap: str, topic: str, group: str, name: str) -> None:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        client_id=name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=500,
    )
    closed = stdin_closed()
    while not closed.is_set():
        start = now()
        got = consumer.poll(timeout_ms=int(POLL_S * 1000), max_records=200)
        by_partition = {
            tp.partition: [(r.offset, r.value.decode()) for r in rs] for tp, rs in got.items()
        }
        polled(name, topic, by_partition, start)
        if by_partition:
            try:
                consumer.commit()
            except KafkaError as e:
                emit(
                    process=name,
                    f="commit",
                    key=topic,
                    input=None,
                    output=str(e),
                    outcome="fail",
                    start_ns=start,
                    end_ns=now(),
                )
    committed = {str(tp.partition): consumer.committed(tp) for tp in consumer.assignment()}
    consumer.close()
    emit(
        process=name,
        f="committed",
        key=topic,
        input=None,
        output=committed,
        outcome="ok",
        start_ns=now(),
        end_ns=now(),
    )


# -- aiokafka --------------------------------------------------------------------------------


def aiokafka_produce(bootstrap: str, topic: str, count: int) -> None:
    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=30000,
        )
        await producer.start()

        async def send(i: int) -> None:
            value = f"v{i}"
            start = now()
            try:
                meta = await producer.send_and_wait(
                    topic, key=str(i).encode(), value=value.encode()
                )
            except Exception as e:  # the client gave up: the record may still be written
                emit(
                    process="producer",
                    f="send",
                    key=f"{topic}/?",
                    input=value,
                    output=str(e),
                    outcome="info",
                    start_ns=start,
                    end_ns=now(),
                )
                return
            emit(
                process="producer",
                f="send",
                key=f"{topic}/{meta.partition}",
                input=value,
                output=meta.offset,
                outcome="ok",
                start_ns=start,
                end_ns=now(),
            )

        sends = []
        for i in range(count):
            sends.append(asyncio.create_task(send(i)))
            await asyncio.sleep(0.005)
        await asyncio.gather(*sends)
        await producer.stop()

    asyncio.run(run())


def aiokafka_consume(bootstrap: str, topic: str, group: str, name: str) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    closed = stdin_closed()

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=name,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=SESSION_MS,
            heartbeat_interval_ms=500,
        )
        await consumer.start()
        while not closed.is_set():
            start = now()
            got = await consumer.getmany(timeout_ms=int(POLL_S * 1000), max_records=200)
            by_partition = {
                tp.partition: [(r.offset, r.value.decode()) for r in rs] for tp, rs in got.items()
            }
            polled(name, topic, by_partition, start)
            if by_partition:
                try:
                    await consumer.commit()
                except KafkaError as e:
                    emit(
                        process=name,
                        f="commit",
                        key=topic,
                        input=None,
                        output=str(e),
                        outcome="fail",
                        start_ns=start,
                        end_ns=now(),
                    )
        committed = {
            str(tp.partition): await consumer.committed(tp) for tp in consumer.assignment()
        }
        await consumer.stop()
        emit(
            process=name,
            f="committed",
            key=topic,
            input=None,
            output=committed,
            outcome="ok",
            start_ns=now(),
            end_ns=now(),
        )

    asyncio.run(run())


PRODUCE = {
    "confluent": confluent_produce,
    "kafka-python": kafka_python_produce,
    "aiokafka": aiokafka_produce,
}
CONSUME = {
    "confluent": confluent_consume,
    "kafka-python": kafka_python_consume,
    "aiokafka": aiokafka_consume,
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("lib", choices=sorted(PRODUCE))
    p.add_argument("role", choices=["produce", "consume", "read-all"])
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--group", default="g")
    p.add_argument("--name", default="c")
    a = p.parse_args()
    if a.role == "produce":
        PRODUCE[a.lib](a.bootstrap, a.topic, a.count)
    elif a.role == "consume":
        CONSUME[a.lib](a.bootstrap, a.topic, a.group, a.name)
    else:
        confluent_read_all(a.bootstrap, a.topic)


if __name__ == "__main__":
    main()
