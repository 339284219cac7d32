"""A leader that can hear but not speak: every link *from* the KV leader to its followers
is cut (one way; what they send still reaches it), from 30% of the run to 60%.

Not in the catalogue, whose partitions cut both ways. Hypothesis: the followers, hearing
no heartbeat, elect a new leader after an election timeout; the old one hears the new
leader's higher term and steps down; ReadIndex reads and writes stay linearizable, and
clients following the leader see one election's worth of unavailability.

    faultlab chaos run docs/scenarios/one_way_leader.py --duration 20s
"""

from chaos.scenario import Mode, Scenario, checkers, faults, workloads

SCENARIO = Scenario(
    name="one-way-leader",
    title="The leader's outbound links are cut",
    hypothesis=(
        "A leader whose messages to its followers are lost, while theirs reach it, is "
        "replaced after an election timeout and steps down when it hears the new term; "
        "the history stays linearizable."
    ),
    groups={"kv": 3},
    workload=workloads.kv_register(clients=4, keys=3, rate_per_client=20),
    timeline=[faults.one_way("leader", direction="outbound", start=0.3, end=0.6)],
    checkers=[checkers.linearizable()],
    safe=Mode("safe", "ReadIndex reads, PreVote and CheckQuorum on", {}, expect_anomaly=False),
)
