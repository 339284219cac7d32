"""lost-ack: a leader acknowledges records before its followers have them, then loses
leadership; the new leader never had them, and acknowledged records vanish.

One partition, three replicas. Producers write unique values; a consumer follows the
partition. Midway, the partition's leader is cut from its two followers while clients
still reach it (Toxiproxy black-holes the peer links of that node). It goes on accepting
records until CheckQuorum deposes it (an election timeout); meanwhile the followers elect
a new leader from their own logs. When the partition heals, the old leader's tail is
overwritten by the new leader's log. The fault is aimed at the partition's leader as it
is at that moment and lasts well past an election timeout, so every record it accepted
alone is in that tail: the outcome does not depend on timing luck.

Unsafe (acks=LEADER, Kafka's acks=1): the old leader acknowledged the records in its tail,
so acknowledged records are lost. Safe (acks=ALL): a record is acknowledged only once a
quorum holds it; the isolated leader acknowledges nothing and no acknowledged record is
lost (its producers see timeouts: indefinite outcomes, correctly).
"""

from __future__ import annotations

import asyncio

from chaos import producing
from chaos.checkers.log import LogResult, check
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.nemesis import Fault, isolate_leader
from cluster.backend import Cluster
from cluster.client.log import ALL, LEADER
from services.runtime.topology import Group, Topology

TOPIC = "lost-ack"


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[producing.LogSpec, list[Fault]]:
    acks = LEADER if mode.settings.get("acks") == "leader" else ALL
    spec = producing.LogSpec(TOPIC, partitions=1, acks=acks)
    return spec, [isolated_partition_leader(cluster, TOPIC, duration_s)]


def isolated_partition_leader(cluster: Cluster, topic: str, duration_s: float) -> Fault:
    """A topic of one partition, led; the fault that cuts its leader from its followers
    from 30% of the run for 40% of it, while clients still reach it."""
    [group] = asyncio.run(producing.create_topic(cluster.topology, topic))
    cluster.wait_for_leader(group=group, timeout_s=20.0)
    return isolate_leader(
        "isolate-partition-leader", at_s=0.3 * duration_s, duration_s=0.4 * duration_s, group=group
    )


def judge(data: RunData, mode: Mode) -> Finding:
    result = check(data.operations)
    figures = result.figures()
    unseen = _unseen_table(result, data.duration_s)
    if result.valid:
        return Finding(
            False,
            f"no acknowledged record lost: {result.acknowledged} acknowledged, "
            f"{result.indefinite} indefinite, {result.read} read",
            unseen,
            figures,
        )
    return Finding(True, _anomalies(result), _examples(result) + "\n\n" + unseen, figures)


def _unseen_table(result: LogResult, duration_s: float, rows: int = 10) -> str:
    """Acknowledged records no consumer had read yet, sampled over the run: the consumer's
    lag, and, once it stays up after the final read, the records that are gone."""
    if not result.unseen:
        return ""
    lines = ["| seconds | acknowledged, not yet read |", "|---|---|"]
    step_s = max(duration_s / rows, 0.1)
    at_s, i, count = 0.0, 0, 0
    while at_s <= duration_s + 1e-9:
        while i < len(result.unseen) and result.unseen[i][0] <= at_s:
            count = result.unseen[i][1]
            i += 1
        lines.append(f"| {at_s:.1f} | {count} |")
        at_s += step_s
    lines.append(f"| end (after the final read) | {result.unseen[-1][1]} |")
    return "\n".join(lines)


def _anomalies(result: LogResult) -> str:
    parts = []
    if result.lost:
        parts.append(f"{len(result.lost)} of {result.acknowledged} acknowledged records lost")
    for name in ("inconsistent_offsets", "poll_skip", "nonmonotonic_poll", "nonmonotonic_send"):
        count = result.figures()[name]
        if count:
            parts.append(f"{count:.0f} {name.replace('_', '-')}")
    return "; ".join(parts)


def _examples(result: LogResult) -> str:
    if not result.lost:
        return ""
    shown = ", ".join(f"`{v}`" for v in result.lost[:10])
    more = f" and {len(result.lost) - 10} more" if len(result.lost) > 10 else ""
    return f"Acknowledged, never read by the final read of the whole partition: {shown}{more}."


EXPERIMENT = Experiment(
    name="lost-ack",
    title="A leader acknowledges records its followers never get",
    sources=(
        "Apache Kafka documentation, producer config acks (acks=1: lost if the leader "
        "fails right after acknowledging)",
        "Redis documentation, Replication (asynchronous: acknowledged writes lost on failover)",
        "Jepsen, analyses of Kafka (2013) and Redpanda 21.10.1 (2022)",
    ),
    hypothesis=(
        "A leader that answers as soon as it has appended a record locally acknowledges "
        "records no quorum holds. Cut off from its followers, it keeps doing so until it "
        "notices, while the followers elect a new leader from logs without those records. "
        "Unsafe (acks=LEADER): acknowledged records vanish (lost-write > 0). Safe "
        "(acks=ALL, answer after the Raft commit): the cut-off leader acknowledges nothing, "
        "and every acknowledged record is read back (lost-write = 0)."
    ),
    unsafe=Mode(
        "unsafe", "produce acks=LEADER (Kafka acks=1)", {}, True, settings={"acks": "leader"}
    ),
    safe=Mode(
        "safe", "produce acks=ALL (after the Raft commit)", {}, False, settings={"acks": "all"}
    ),
    plan=plan,
    judge=judge,
    doc="docs/experiments/lost-ack.md",
    topology=Topology.build("127.0.0.1", 0, (Group("log", 3),)),
    workload=producing.run,
    leader_group="log/meta",
)
