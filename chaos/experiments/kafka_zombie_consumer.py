"""kafka-zombie-consumer: zombie-consumer with librdkafka (confluent-kafka) consumers, each in
a process of its own, in a Kafka consumer group on the log nodes' Kafka ports.

One partition, a librdkafka producer writing to it, and two librdkafka group members. The
one that owns the partition is stopped with SIGSTOP right after a poll, before it commits
the batch it processed: librdkafka's heartbeat thread stops with it, the coordinator
expires it after its session timeout, and the other member gets the partition, consumes
on and commits. Then the zombie resumes and commits its batch, with the generation it
had, an offset behind the other's.

The fault is aimed, not timed: the owner is found from the history and stopped only
after a poll that returned records; it is resumed only once the other member has
committed past where the zombie's commit will put the group.

Unsafe (the coordinator takes commits whatever their generation: `FAULTLAB_LOG_FENCE_COMMITS=0`,
as offsets written straight to ZooKeeper by Kafka 0.8's consumers were): the group's
committed offset goes back. Safe (Kafka's coordinator: commits fenced by member and
generation): the late commit is refused (ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID, whichever
librdkafka sends it with) and the committed offset only moves forward.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from chaos import producing
from chaos.chaos_mesh.steps import CLIENT_STEP_GAP
from chaos.experiments import zombie_consumer
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.history import NEMESIS, History
from chaos.kafka_children import KafkaClient, kafka_client
from chaos.nemesis import Fault
from cluster.backend import Cluster
from cluster.waiting import wait_until_async
from services.log.kafka.door import INITIAL_DELAY_ENV, MIN_SESSION_ENV
from services.runtime.topology import Group, Topology

TOPIC = "kafka-zombie"
GROUP = "kafka-zombie-group"
KEY = f"{TOPIC}/0"
PAUSE = "pause-consumer"
SESSION_MS = 1000
STEP_S = 30.0  # the most one step of the pause may wait
FINISH_S = 60.0
# Kafka brokers refuse sessions under 6 s; this cluster takes 1 s, so the run is short,
# and groups form at once (no initial rebalance delay), as Kafka's test brokers do.
NODE_ENV = {MIN_SESSION_ENV: "500", INITIAL_DELAY_ENV: "0"}


@dataclass(frozen=True)
class KafkaZombieSpec:
    pause_at_share: float = 0.3  # of the run


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[KafkaZombieSpec, list[Fault]]:
    asyncio.run(producing.create_topic(cluster.topology, TOPIC))
    # The pause is the workload's own step (between a poll and its commit), recorded as a
    # nemesis event; no timed faults.
    return KafkaZombieSpec(), []


async def workload(
    spec: KafkaZombieSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    members = ("consumer-1", "consumer-2")
    session = ("--group", GROUP, "--session-ms", str(SESSION_MS))
    async with contextlib.AsyncExitStack() as stack:
        producer = await stack.enter_async_context(
            kafka_client(history, topology, "produce", TOPIC, "--duration-s", str(duration_s))
        )
        consumers = {
            name: await stack.enter_async_context(
                kafka_client(history, topology, "consume", TOPIC, *session, "--name", name)
            )
            for name in members
        }
        await asyncio.sleep(spec.pause_at_share * duration_s)
        owner = await _owner(history, members)
        await _pause_the_owner(consumers[owner], owner, history, members)
        async with asyncio.timeout(duration_s + FINISH_S):
            await producer._reader
        await producer.finish(FINISH_S)
        for consumer in consumers.values():
            await consumer.finish(FINISH_S)


async def _owner(history: History, members: tuple[str, ...]) -> str:
    """The member whose latest poll returned records: the partition's owner now."""

    def latest() -> str | None:
        for e in reversed(history.events):
            if e.process in members and e.f == "poll" and e.type == "ok" and e.value:
                return e.process
        return None

    async def consuming() -> bool:
        return latest() is not None

    await wait_until_async(consuming, STEP_S, "a member to consume")
    owner = latest()
    assert owner is not None
    return owner


async def _pause_the_owner(
    zombie: KafkaClient, name: str, history: History, members: tuple[str, ...]
) -> None:
    zombie.send("pause")
    await zombie.wait_for("ready", STEP_S)  # it polled and has not committed
    zombie.pause()
    history.record(NEMESIS, "invoke", PAUSE, value=f"SIGSTOP {name} (pid {zombie.pid})")
    zombie.send("go")  # in its stdin pipe: the first thing it reads when it runs again
    behind = _last_polled(history, name) + 1
    other = next(m for m in members if m != name)

    async def other_committed_past() -> bool:
        return _committed(history, other) > behind

    await wait_until_async(other_committed_past, STEP_S, f"{other} to commit past {name}")
    zombie.resume()
    history.record(NEMESIS, "info", PAUSE, value=f"SIGCONT: {name} commits its batch")


def _last_polled(history: History, name: str) -> int:
    polls = [e for e in history.events if e.process == name and e.f == "poll" and e.value]
    return int(polls[-1].value[-1][0]) if polls else -1


def _committed(history: History, name: str) -> int:
    """The highest offset `name` committed and had accepted."""
    invoked, best = -1, -1
    for e in history.events:
        if e.process != name or e.f != "commit":
            continue
        if e.type == "invoke":
            invoked = int(e.value[0])
        elif e.type == "ok":
            best = max(best, invoked)
    return best


def _zombie(data: RunData) -> tuple[str, int] | None:
    """The paused member's name and when it was paused."""
    for e in data.history.events:
        if e.process == NEMESIS and e.type == "invoke" and e.f == PAUSE:
            return str(e.value).split()[1], e.time_ns
    return None


def _late_commit(data: RunData) -> str:
    zombie = _zombie(data)
    if zombie is None:
        return "no member was paused."
    name, paused_ns = zombie
    late = [
        op
        for op in data.operations
        if op.process == name and op.f == "commit" and op.start_ns >= paused_ns
    ]
    if not late:
        return f"{name} made no commit after its pause."
    first = late[0]
    answer = "accepted" if first.outcome == "ok" else f"refused ({first.output})"
    return f"{name}'s first commit after its pause, offset {first.input[0]}: {answer}."


def judge(data: RunData, mode: Mode) -> Finding:
    return zombie_consumer.commit_finding(data, _late_commit(data))


EXPERIMENT = Experiment(
    name="kafka-zombie-consumer",
    title="librdkafka consumers: a paused member commits after its partition moved",
    sources=(
        "Apache Kafka, KIP-62 (consumer liveness) and the consumer's CommitFailedException",
        "Apache Kafka group coordinator: OffsetCommit refused with ILLEGAL_GENERATION",
        "librdkafka CONFIGURATION.md: session.timeout.ms, enable.auto.commit",
    ),
    hypothesis=(
        "A librdkafka consumer stopped between a poll and its commit longer than its "
        "session timeout is expired; its partition moves to the other member, which "
        "consumes on and commits. Resumed, the paused consumer commits its batch. Unsafe "
        "(commits taken whatever their generation): the group's committed offset goes "
        "back. Safe (Kafka's coordinator: commits fenced by member and generation): the "
        "late commit is refused and the committed offset only moves forward."
    ),
    unsafe=Mode(
        "unsafe",
        "offset commits not fenced by generation",
        {**NODE_ENV, "FAULTLAB_LOG_FENCE_COMMITS": "0"},
        True,
    ),
    safe=Mode("safe", "offset commits fenced by member and generation", dict(NODE_ENV), False),
    plan=plan,
    judge=judge,
    mesh_gaps=(CLIENT_STEP_GAP,),
    doc="docs/experiments/kafka-zombie-consumer.md",
    topology=Topology.build("127.0.0.1", 0, (Group("log", 3),)),
    workload=workload,
    leader_group="log/groups",
)
