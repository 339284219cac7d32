"""zombie-consumer: a consumer paused past its session timeout commits offsets for a
partition that has since moved to another member.

One partition, a producer writing to it, and a consumer group of two members: consumer-a,
a process of its own (chaos/group_consumer.py) that owns the partition, and consumer-b,
idle beside it. Midway, consumer-a is stopped with SIGSTOP right after a poll, before it
commits (a GC pause in the middle of processing a batch). The coordinator expires it
after its session timeout and gives the partition to consumer-b, which consumes on and
commits. Then consumer-a resumes and commits the batch it was processing: an offset
behind consumer-b's, with its old generation.

The fault is aimed, not timed: consumer-a is stopped only after a poll, and resumed only
once consumer-b has committed past where consumer-a will commit, so the late commit is
always a step back.

Unsafe (the coordinator accepts commits whatever their generation, as offsets written
straight to ZooKeeper by Kafka 0.8's consumers were): the committed offset goes back, and
the records between are delivered again at the next rebalance. Safe (commits fenced by
generation): the late commit is refused with ILLEGAL_GENERATION; the committed offset
only moves forward, and re-delivery stays within the batch consumer-a was processing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from chaos import producing
from chaos.chaos_mesh.steps import CLIENT_STEP_GAP
from chaos.checkers import commits
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.group_consumer import running_consumer
from chaos.history import NEMESIS, History
from chaos.nemesis import Fault
from chaos.workload import failure_fields, outcome_of
from cluster.backend import Cluster
from cluster.client import LogClient
from cluster.client.consumer import GroupConsumer
from cluster.waiting import wait_until_async
from services.runtime.topology import Group, Topology

TOPIC = "zombie"
GROUP = "zombie-group"
KEY = f"{TOPIC}/0"
PAUSE = "pause-consumer"


@dataclass(frozen=True)
class ZombieSpec:
    topology_path: Path
    session_ms: int = 1000
    produce_per_s: float = 50.0
    pause_at_share: float = 0.3  # of the run


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[ZombieSpec, list[Fault]]:
    asyncio.run(producing.create_topic(cluster.topology, TOPIC))
    # The pause is the workload's own step (it must land between a poll and its commit),
    # recorded as a nemesis event, so no timed faults here.
    return ZombieSpec(cluster.topology_path), []


async def workload(
    spec: ZombieSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    deadline = time.monotonic() + duration_s
    producer = asyncio.create_task(_produce(spec, topology, history, deadline))
    async with running_consumer(
        spec.topology_path, TOPIC, GROUP, "consumer-a", history, spec.session_ms
    ) as zombie:
        await zombie.wait_for("joined", 20)
        async with LogClient.for_topology(topology, timeout_s=2.0) as log:
            idle = _consume(log, "consumer-b", spec, history, deadline)
            b = asyncio.create_task(idle)
            await asyncio.sleep(spec.pause_at_share * duration_s)
            zombie.send("pause")
            await zombie.wait_for("ready", 20)  # it polled and has not committed
            zombie.pause()
            history.record(NEMESIS, "invoke", PAUSE, value=f"SIGSTOP consumer-a (pid {zombie.pid})")
            zombie.send("go")  # in its stdin pipe: the first thing it reads when it runs again
            behind = _uncommitted_position(history)

            async def b_committed_past() -> bool:
                return _b_committed(history) > behind

            await wait_until_async(b_committed_past, 20, "consumer-b to commit past consumer-a")
            zombie.resume()
            history.record(NEMESIS, "info", PAUSE, value="SIGCONT: consumer-a commits its batch")
            await b
            await zombie.stop(20)
    await producer


def _uncommitted_position(history: History) -> int:
    """Where consumer-a's pending commit will put the group: after its last poll."""
    polls = [
        e
        for e in history.events
        if e.process == "consumer-a" and e.f == "poll" and e.type == "ok" and e.value
    ]
    return polls[-1].value[-1][0] + 1 if polls else 0


def _b_committed(history: History) -> int:
    """The highest offset consumer-b committed and had accepted."""
    invoked: dict[str, int] = {}
    best = -1
    for e in history.events:
        if e.process != "consumer-b" or e.f != "commit":
            continue
        if e.type == "invoke":
            invoked["b"] = e.value[0]
        elif e.type == "ok":
            best = max(best, invoked["b"])
    return best


async def _produce(spec: ZombieSpec, topology: Topology, history: History, deadline: float) -> None:
    async with LogClient.for_topology(topology, timeout_s=1.0) as log:
        for n in itertools.count(1):
            if time.monotonic() >= deadline:
                return
            started = time.monotonic()
            history.record("producer", "invoke", "send", key=KEY, value=f"r{n}")
            try:
                resp = await log.produce(TOPIC, [f"r{n}".encode()], partition=0)
            except grpc.aio.AioRpcError as e:
                history.record("producer", outcome_of(e), "send", key=KEY, **failure_fields(e))
            else:
                history.record("producer", "ok", "send", key=KEY, value=resp.base_offset)
            await asyncio.sleep(max(0.0, 1 / spec.produce_per_s - (time.monotonic() - started)))


async def _consume(
    log: LogClient, name: str, spec: ZombieSpec, history: History, deadline: float
) -> None:
    """A well-behaved member (the SDK's GroupConsumer: heartbeats of its own)."""
    async with GroupConsumer(
        log, GROUP, [TOPIC], session_timeout_s=spec.session_ms / 1000, client_id=name
    ) as member:
        while time.monotonic() < deadline:
            if not member.positions:  # idle until a rebalance gives it the partition
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        await _rebalance(member)
                continue
            history.record(name, "invoke", "poll", key=KEY)
            try:
                got = await member.poll(max_wait_ms=100)
            except grpc.aio.AioRpcError as e:
                history.record(name, "fail", "poll", key=KEY, **failure_fields(e))
                continue
            history.record(
                name, "ok", "poll", key=KEY, value=[[r.offset, r.value.decode()] for _, _, r in got]
            )
            offset = member.positions.get((TOPIC, 0))
            if offset is None:
                continue  # revoked meanwhile
            history.record(name, "invoke", "commit", key=KEY, value=[offset, member.generation])
            try:
                await member.commit()
            except grpc.aio.AioRpcError as e:
                history.record(name, outcome_of(e), "commit", key=KEY, **failure_fields(e))
            else:
                history.record(name, "ok", "commit", key=KEY)


async def _rebalance(member: GroupConsumer) -> None:
    member.rebalanced.clear()
    await member.rebalanced.wait()


def _late_commit(data: RunData) -> str:
    """What became of consumer-a's first commit after its pause."""
    paused = [e.time_ns for e in data.history.events if e.process == NEMESIS]
    answers = [
        e
        for e in data.history.events
        if e.process == "consumer-a"
        and e.f == "commit"
        and e.type != "invoke"
        and paused
        and e.time_ns >= paused[0]
    ]
    late = [
        op
        for op in data.operations
        if op.process == "consumer-a" and op.f == "commit" and paused and op.start_ns >= paused[0]
    ]
    if not late or not answers:
        return "consumer-a made no commit after its pause."
    answer = "accepted" if answers[0].type == "ok" else f"refused ({answers[0].reason})"
    return (
        f"consumer-a's first commit after its pause: offset {late[0].input[0]} with "
        f"generation {late[0].input[1]}: {answer}."
    )


def judge(data: RunData, mode: Mode) -> Finding:
    return commit_finding(data, _late_commit(data))


def commit_finding(data: RunData, late_md: str) -> Finding:
    """The commit checker's verdict on the run, with what became of the late commit."""
    result = commits.check(data.operations)
    figures = result.figures()
    if result.valid:
        return Finding(
            False,
            f"committed offsets only moved forward: {result.accepted} commits accepted, "
            f"{result.refused} refused; {result.redelivered} records delivered twice",
            late_md,
            figures,
        )
    parts = []
    for key, before, after, by in result.regressions[:3]:
        parts.append(f"{by} moved {key} back from {before} to {after}")
    if result.skips:
        parts.append(f"{len(result.skips)} commit(s) past anything read")
    summary = "; ".join(parts) + f"; {result.redelivered} records delivered twice"
    return Finding(True, summary, late_md, figures)


EXPERIMENT = Experiment(
    name="zombie-consumer",
    title="A paused consumer commits offsets after its partitions moved",
    sources=(
        "Apache Kafka, KIP-62 (consumer liveness: heartbeats from a background thread) and "
        "the consumer's CommitFailedException",
        "Apache Kafka group coordinator: OffsetCommit refused with ILLEGAL_GENERATION",
        "Kleppmann, Designing Data-Intensive Applications, ch. 8 (process pauses)",
    ),
    hypothesis=(
        "A consumer paused between a poll and its commit longer than its session timeout is "
        "expired; its partition moves to another member, which consumes on and commits. "
        "When the paused consumer resumes it commits the batch it was processing. Unsafe "
        "(commits accepted whatever their generation): the group's committed offset goes "
        "back, and records are delivered again. Safe (commits fenced by generation): the "
        "late commit is refused with ILLEGAL_GENERATION and the committed offset only moves "
        "forward."
    ),
    unsafe=Mode(
        "unsafe",
        "offset commits not fenced by generation",
        {"FAULTLAB_LOG_FENCE_COMMITS": "0"},
        True,
    ),
    safe=Mode("safe", "offset commits fenced by generation", {}, False),
    plan=plan,
    judge=judge,
    mesh_gaps=(CLIENT_STEP_GAP,),
    doc="docs/experiments/zombie-consumer.md",
    topology=Topology.build("127.0.0.1", 0, (Group("log", 3),)),
    workload=workload,
    leader_group="log/groups",
)
