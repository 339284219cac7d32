"""Real Kafka clients as workloads, each in a process of its own, written as history events
(chaos.locking.printer: JSON lines with their monotonic times) for the log and commit
checkers. The chaos experiments and the tests of the Kafka door run them.

    python -m chaos.kafka_client LIB produce BOOTSTRAP TOPIC --count N [--acks 1]
    python -m chaos.kafka_client LIB consume BOOTSTRAP TOPIC --group G --name c1
    python -m chaos.kafka_client LIB read-all BOOTSTRAP TOPIC

LIB is confluent (librdkafka), kafka-python or aiokafka. `produce` sends N unique values
(or, with --duration-s, as many as it can in that time; either way it stops early when
its stdin closes) with acks=all and idempotence on
(--acks 1: acks=1, idempotence off), one "send" operation each: its offset when
acknowledged (-1: acknowledged without one). `consume` polls as a member of group G,
committing after each poll ("poll", "commit" [offset, None] per partition), until its
stdin closes; then it commits and leaves the group, and prints {"committed": {...}}, the
group's offsets as it fetched them. A line "pause" on its stdin (confluent) makes it
stop after its next poll with records, print {"ready": true} and wait for "go" before it
commits: the parent stops it there. `read-all` reads every partition from its start to
its end outside any group ("poll" operations of the process "final").
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import queue
import sys
import threading
import time
from typing import Any

POLL_S = 0.5
SESSION_MS = 6000  # Kafka's group.min.session.timeout.ms: the shortest a broker takes
PARTITIONS_WAIT_S = 60.0
ROUND_TRIP_S = 30.0
SEND_INTERVAL_S = 0.005  # the producers' pace: a stream, not a burst, across the faults
# A group member as kafka-python and aiokafka both spell it: commits are the workload's.
MEMBER = {
    "auto_offset_reset": "earliest",
    "enable_auto_commit": False,
    "session_timeout_ms": SESSION_MS,
    "heartbeat_interval_ms": 500,
}


def emit(
    process: str,
    f: str,
    key: str,
    input: Any,
    output: Any,
    outcome: str,
    start_ns: int,
    end_ns: int,
) -> None:
    """One operation, as its invoke and its completion (chaos.locking.replay reads them)."""
    lines = [
        {
            "process": process,
            "type": "invoke",
            "f": f,
            "key": key,
            "at_ns": start_ns,
            "value": input,
        },
        {"process": process, "type": outcome, "f": f, "key": key, "at_ns": end_ns, "value": output},
    ]
    with _printing:
        for line in lines:
            print(json.dumps(line), flush=True)


def acknowledged(topic: str, value: str, meta: Any, start: int) -> None:
    """A send the client reports written: kafka-python's and aiokafka's RecordMetadata."""
    emit("producer", "send", f"{topic}/{meta.partition}", value, meta.offset, "ok", start, now())


def said(**fields: Any) -> None:
    """A line that is not an event (what a consumer found committed, that it is ready)."""
    with _printing:
        print(json.dumps(fields), flush=True)


_printing = threading.Lock()  # librdkafka's delivery callbacks run on its own threads


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
            emit(process, "poll", f"{topic}/{partition}", None, records, "ok", start, end)


# -- librdkafka (confluent-kafka) ------------------------------------------------------------


def confluent_produce(bootstrap: str, topic: str, count: int, acks: str, duration_s: float) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": acks == "all",
            "acks": acks,
            "linger.ms": 5,
            "message.timeout.ms": 10_000 if duration_s else 120_000,
        }
    )
    started: dict[str, int] = {}

    def delivered(err: Any, msg: Any) -> None:
        value = msg.value().decode()
        key = f"{topic}/{msg.partition()}"
        if err is None:
            offset = msg.offset()
            if offset is None or offset < 0:  # acks=1 here: acknowledged before it has one
                offset = -1
            emit("producer", "send", key, value, offset, "ok", started[value], now())
        else:
            outcome = "info" if err.retriable() or err.code() < 0 else "fail"
            emit("producer", "send", key, value, str(err), outcome, started[value], now())

    deadline = time.monotonic() + duration_s
    closed = stdin_closed()
    for i in range(count) if not duration_s else itertools.count():
        if closed.is_set() or (duration_s and time.monotonic() >= deadline):
            break
        value = f"v{i}"
        started[value] = now()
        producer.produce(topic, value=value.encode(), key=str(i).encode(), on_delivery=delivered)
        producer.poll(SEND_INTERVAL_S)
    producer.flush(30)


def confluent_consume(
    bootstrap: str, topic: str, group: str, name: str, session_ms: int = SESSION_MS
) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": session_ms,
            "heartbeat.interval.ms": min(500, session_ms // 4),
        }
    )
    consumer.subscribe([topic])
    commands = stdin_commands()
    pause_next = False
    while True:
        command = commands.get() if not commands.empty() else ""
        if command == "stop":
            break
        pause_next = pause_next or command == "pause"
        start = now()
        messages = consumer.consume(num_messages=200, timeout=POLL_S)
        by_partition: dict[int, list[tuple[int, str]]] = {}
        for m in messages:
            if m.error() is None:
                by_partition.setdefault(m.partition() or 0, []).append(_offset_value(m))
        polled(name, topic, by_partition, start)
        if not by_partition:
            continue
        if pause_next:  # stopped here, between its poll and its commit
            pause_next = False
            said(ready=True)
            while commands.get() != "go":
                pass
        # the offsets it processed, committed explicitly: what the zombie commits late
        offsets = {p: records[-1][0] + 1 for p, records in by_partition.items()}
        start = now()
        try:
            consumer.commit(
                offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                asynchronous=False,
            )
            outcome, answer = "ok", None
        except KafkaException as e:  # refused: a rebalance moved its partitions on
            outcome, answer = "fail", str(e.args[0])
        for p, o in sorted(offsets.items()):
            emit(name, "commit", f"{topic}/{p}", [o, None], answer, outcome, start, now())
    partitions = consumer.assignment()
    committed = consumer.committed(partitions, timeout=ROUND_TRIP_S) if partitions else []
    consumer.close()
    said(committed={str(tp.partition): tp.offset for tp in committed})


def _offset_value(message: Any) -> tuple[int, str]:
    """A consumed librdkafka message as the history has it (every value here is text)."""
    return int(message.offset()), bytes(message.value() or b"").decode()


def stdin_commands() -> queue.Queue[str]:
    """Lines from stdin as they come; "stop" once it ends (the test's way to say stop)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            lines.put(line.strip())
        lines.put("stop")

    threading.Thread(target=read, daemon=True).start()
    return lines


def confluent_read_all(bootstrap: str, topic: str) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "read-all", "enable.auto.commit": False}
    )
    meta = consumer.list_topics(topic, timeout=ROUND_TRIP_S)
    for partition in sorted(meta.topics[topic].partitions):
        low, high = _watermarks(consumer, TopicPartition(topic, partition))
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
                    records.append(_offset_value(m))
        emit("final", "poll", f"{topic}/{partition}", None, records, "ok", now(), now())
    consumer.close()


def _watermarks(consumer: Any, where: Any) -> tuple[int, int]:
    """The partition's (low, high) watermarks, asked again while its leader moves (the
    client's metadata may still name the old one; librdkafka does not retry this)."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + PARTITIONS_WAIT_S
    while True:
        try:
            low, high = consumer.get_watermark_offsets(where, timeout=ROUND_TRIP_S)
            return int(low), int(high)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)


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
    closed = stdin_closed()
    for i in range(count):
        if closed.is_set():
            break
        value = f"v{i}"
        start = now()

        def done(meta: Any, value: str = value, start: int = start) -> None:
            acknowledged(topic, value, meta, start)

        def failed(exc: Any, value: str = value, start: int = start) -> None:
            emit("producer", "send", f"{topic}/?", value, str(exc), "info", start, now())

        producer.send(topic, key=str(i).encode(), value=value.encode()).add_callback(
            done
        ).add_errback(failed)
        time.sleep(SEND_INTERVAL_S)
    producer.flush(120)
    producer.close()


def kafka_python_consume(bootstrap: str, topic: str, group: str, name: str) -> None:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap.split(","), group_id=group, client_id=name, **MEMBER
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
                for p, records in sorted(by_partition.items()):
                    offset = [records[-1][0] + 1, None]
                    emit(name, "commit", f"{topic}/{p}", offset, str(e), "fail", start, now())
    committed = {str(tp.partition): consumer.committed(tp) for tp in consumer.assignment()}
    consumer.close()
    said(committed=committed)


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
                emit("producer", "send", f"{topic}/?", value, str(e), "info", start, now())
                return
            acknowledged(topic, value, meta, start)

        sends = []
        closed = stdin_closed()
        for i in range(count):
            if closed.is_set():
                break
            sends.append(asyncio.create_task(send(i)))
            await asyncio.sleep(SEND_INTERVAL_S)
        await asyncio.gather(*sends)
        await producer.stop()

    asyncio.run(run())


def aiokafka_consume(bootstrap: str, topic: str, group: str, name: str) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    closed = stdin_closed()

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=group, client_id=name, **MEMBER
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
                    for p, records in sorted(by_partition.items()):
                        offset = [records[-1][0] + 1, None]
                        emit(name, "commit", f"{topic}/{p}", offset, str(e), "fail", start, now())
        committed = {
            str(tp.partition): await consumer.committed(tp) for tp in consumer.assignment()
        }
        await consumer.stop()
        said(committed=committed)

    asyncio.run(run())


PRODUCE = {
    "confluent": lambda bootstrap, topic, count: confluent_produce(
        bootstrap, topic, count, "all", 0
    ),
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
    p.add_argument("--acks", choices=["all", "1"], default="all")
    p.add_argument("--duration-s", type=float, default=0.0)
    p.add_argument("--session-ms", type=int, default=SESSION_MS)
    a = p.parse_args()
    if a.role == "produce" and a.lib == "confluent":
        confluent_produce(a.bootstrap, a.topic, a.count, a.acks, a.duration_s)
    elif a.role == "produce":
        PRODUCE[a.lib](a.bootstrap, a.topic, a.count)
    elif a.role == "consume" and a.lib == "confluent":
        confluent_consume(a.bootstrap, a.topic, a.group, a.name, a.session_ms)
    elif a.role == "consume":
        CONSUME[a.lib](a.bootstrap, a.topic, a.group, a.name)
    else:
        confluent_read_all(a.bootstrap, a.topic)


if __name__ == "__main__":
    main()
