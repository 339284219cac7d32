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

Written as a scenario (chaos/scenario); the modes differ only in the producers' acks.
"""

from __future__ import annotations

from chaos.experiments.base import Mode
from chaos.scenario import Scenario, checkers, faults, workloads

# From 30% of the run for 40% of it: well past an election timeout at any duration the
# catalogue runs, and healed early enough for the consumer to read to the end.
ISOLATED_FROM, ISOLATED_UNTIL = 0.3, 0.7

SCENARIO = Scenario(
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
    groups={"log": 3},
    workload=workloads.log_produce_consume(topic="lost-ack", partitions=1),
    timeline=[
        faults.isolate("leader", start=ISOLATED_FROM, end=ISOLATED_UNTIL)
    ],  # the partition's leader
    checkers=[checkers.no_acknowledged_loss()],
    unsafe=Mode(
        "unsafe", "produce acks=LEADER (Kafka acks=1)", {}, True, settings={"acks": "leader"}
    ),
    safe=Mode(
        "safe", "produce acks=ALL (after the Raft commit)", {}, False, settings={"acks": "all"}
    ),
    doc="docs/experiments/lost-ack.md",
)

EXPERIMENT = SCENARIO.experiment()
