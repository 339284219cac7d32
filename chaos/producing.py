"""Producers and consumers on a topic, recording what they saw: the log experiments'
workload, in the history shape `chaos.checkers.log` reads.

Each producer sends unique values ("p2-17") round robin over the partitions; each
consumer follows every partition with long-poll fetches from offset 0, one history
process per partition ("c1/p0"), so each process has one call in flight. After the run,
the process "final" reads every partition from its start to its high watermark: the
read every acknowledged record must appear in.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass

import grpc

from chaos.checkers.log import FINAL
from chaos.history import History
from chaos.workload import failure_fields, outcome_of
from cluster.client import LogClient, errors
from cluster.client.log import ALL
from services.runtime.topology import Topology

POLL_WAIT_MS = 200
FAILED_POLL_PAUSE_S = 0.05


@dataclass(frozen=True)
class LogSpec:
    topic: str
    partitions: int = 1
    acks: int = ALL
    producers: int = 3
    consumers: int = 1
    rate_per_producer: float = 40.0  # sends per second
    timeout_s: float = 1.0  # per attempt
    attempts: int = 3  # enough to follow a NOT_LEADER answer or two


async def create_topic(topology: Topology, topic: str, partitions: int = 1) -> list[str]:
    """`topic`, with three replicas per partition and every partition led; returns each
    partition's Raft group id."""
    async with LogClient.for_topology(topology) as log:
        created = await log.create_topic(topic, partitions=partitions, replication=3)
        await log.wait_until_ready(topic)
        return [str(p.group) for p in created.partitions]


def key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


async def run(
    spec: LogSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    deadline = time.monotonic() + duration_s
    producers = [
        _producer(f"p{i}", spec, topology, history, deadline, random.Random(seed + i))
        for i in range(1, spec.producers + 1)
    ]
    consumers = [
        _consumer(f"c{i}/p{p}", spec, p, topology, history, deadline)
        for i in range(1, spec.consumers + 1)
        for p in range(spec.partitions)
    ]
    await asyncio.gather(*producers, *consumers)
    async with LogClient.for_topology(topology, timeout_s=2.0) as log:
        for p in range(spec.partitions):
            await read_to_end(log, spec.topic, p, history)


async def _producer(
    name: str,
    spec: LogSpec,
    topology: Topology,
    history: History,
    deadline: float,
    rng: random.Random,
) -> None:
    interval_s = 1 / spec.rate_per_producer
    partitions = itertools.cycle(range(spec.partitions))
    async with LogClient.for_topology(
        topology, timeout_s=spec.timeout_s, attempts=spec.attempts, rng=rng
    ) as log:
        for n in itertools.count(1):
            if time.monotonic() >= deadline:
                return
            started = time.monotonic()
            p = next(partitions)
            value = f"{name}-{n}"
            history.record(name, "invoke", "send", key=key(spec.topic, p), value=value)
            try:
                resp = await log.produce(spec.topic, [value.encode()], partition=p, acks=spec.acks)
            except grpc.aio.AioRpcError as e:
                history.record(
                    name, outcome_of(e), "send", key=key(spec.topic, p), **failure_fields(e)
                )
            else:
                history.record(name, "ok", "send", key=key(spec.topic, p), value=resp.base_offset)
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))


async def _consumer(
    name: str, spec: LogSpec, partition: int, topology: Topology, history: History, deadline: float
) -> None:
    offset = 0
    async with LogClient.for_topology(topology, timeout_s=spec.timeout_s) as log:
        while time.monotonic() < deadline:
            history.record(name, "invoke", "poll", key=key(spec.topic, partition))
            try:
                got = await log.fetch(spec.topic, partition, offset, max_wait_ms=POLL_WAIT_MS)
            except grpc.aio.AioRpcError as e:
                # A read changes nothing: a failed poll certainly did nothing.
                history.record(
                    name, "fail", "poll", key=key(spec.topic, partition), **failure_fields(e)
                )
                await asyncio.sleep(FAILED_POLL_PAUSE_S)  # a cluster that is down: no spinning
                continue
            records = [[r.offset, r.value.decode()] for r in got.records]
            history.record(name, "ok", "poll", key=key(spec.topic, partition), value=records)
            if records:
                offset = records[-1][0] + 1


async def read_to_end(
    log: LogClient, topic: str, partition: int, history: History, wait_s: float = 30.0
) -> None:
    """Every record of the partition (the experiments keep no retention, so from 0), as
    the process `final`. A cluster still recovering (a power cut, a failover) is waited
    for up to `wait_s`, each failed attempt recorded; a topic the cluster no longer knows
    reads as empty (its records are gone, which the checker then counts)."""
    offset = 0
    deadline = time.monotonic() + wait_s
    while True:
        history.record(FINAL, "invoke", "poll", key=key(topic, partition))
        try:
            got = await log.fetch(topic, partition, offset)
        except grpc.aio.AioRpcError as e:
            if errors.reason_of(e) == errors.Reason.UNKNOWN_TOPIC:
                history.record(FINAL, "ok", "poll", key=key(topic, partition), value=[])
                return
            history.record(FINAL, "fail", "poll", key=key(topic, partition), **failure_fields(e))
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(FAILED_POLL_PAUSE_S)
            continue
        records = [[r.offset, r.value.decode()] for r in got.records]
        history.record(FINAL, "ok", "poll", key=key(topic, partition), value=records)
        if records:
            offset = records[-1][0] + 1
        if offset >= got.high_watermark:
            return
