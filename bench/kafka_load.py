"""One Kafka load run with librdkafka (confluent-kafka), the same tool for every broker: a
process of its own, its result as one JSON line.

    python bench/kafka_load.py BOOTSTRAP TOPIC --seconds 5 --outstanding 256 [--batching]

Produce for --warmup-seconds unmeasured (a JVM broker compiles its hot paths meanwhile),
then for `seconds` with acks=all, never more than `outstanding` records unacknowledged
(1: each waits for the last; 256: a window). Without --batching each record is its own
request (batch.num.messages=1, linger.ms=0); with it librdkafka batches as it does by
default (linger.ms=5). Then consume the partition from its start to its end, outside any
group, as fast as librdkafka fetches. Prints records/s both ways and the produce
latencies (p50, p99, ms).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time

from confluent_kafka import Consumer, Producer, TopicPartition

RECORD = b"x" * 100


def produce(
    bootstrap: str, topic: str, seconds: float, warmup_s: float, outstanding: int, batching: bool
) -> dict[str, float]:
    config = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False}
    if batching:
        config |= {"linger.ms": 5, "batch.num.messages": 10_000}
    else:
        config |= {"linger.ms": 0, "batch.num.messages": 1}
    producer = Producer(config)
    in_flight = 0
    acknowledged = 0
    latencies: list[float] = []

    def delivered(err: object, msg: object, *, sent: float) -> None:
        nonlocal in_flight, acknowledged
        in_flight -= 1
        if err is None:
            acknowledged += 1
            latencies.append((time.perf_counter() - sent) * 1000)

    producer.list_topics(topic, timeout=30)
    warm_until = time.monotonic() + warmup_s
    measuring = warmup_s <= 0
    started = time.monotonic()
    deadline = started + warmup_s + seconds
    while time.monotonic() < deadline:
        if not measuring and time.monotonic() >= warm_until:
            measuring, acknowledged, started = True, 0, time.monotonic()
            latencies.clear()
        if in_flight < outstanding:
            sent = time.perf_counter()
            producer.produce(
                topic, RECORD, partition=0, on_delivery=functools.partial(delivered, sent=sent)
            )
            in_flight += 1
            producer.poll(0)
        else:
            producer.poll(0.001)
    elapsed = time.monotonic() - started
    producer.flush(60)
    q = statistics.quantiles(latencies, n=100)
    return {
        "produce_records_per_s": round(acknowledged / elapsed),
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
    }


def consume(bootstrap: str, topic: str) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    where = TopicPartition(topic, 0)
    low, high = consumer.get_watermark_offsets(where, timeout=30)
    consumer.assign([TopicPartition(topic, 0, low)])
    read = 0
    started = time.monotonic()
    while read < high - low:
        read += sum(
            1 for m in consumer.consume(num_messages=10_000, timeout=1.0) if m.error() is None
        )
    elapsed = time.monotonic() - started
    consumer.close()
    return round(read / elapsed)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--outstanding", type=int, default=1)
    p.add_argument("--batching", action="store_true")
    p.add_argument("--warmup-seconds", type=float, default=0.0)
    a = p.parse_args()
    result = produce(a.bootstrap, a.topic, a.seconds, a.warmup_seconds, a.outstanding, a.batching)
    result["consume_records_per_s"] = consume(a.bootstrap, a.topic)
    print(json.dumps({"outstanding": a.outstanding, "batching": a.batching, **result}))


if __name__ == "__main__":
    main()
