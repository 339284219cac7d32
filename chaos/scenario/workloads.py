"""Workloads a scenario can run: the ones the catalogue's experiments use.

workloads.kv_register(clients=4, rate_per_client=20, reads="linearizable")
workloads.log_produce_consume(partitions=1, acks="all")
"""

from __future__ import annotations

import asyncio

from chaos import producing
from chaos.scenario.model import ScenarioError, Workload
from chaos.workload import ClientSpec, WorkloadSpec, run_workload
from cluster.backend import Cluster
from cluster.client import LEASE, LINEARIZABLE, STALE
from cluster.client.log import ALL, LEADER

KV_REGISTER = "kv-register"
LOG_PRODUCE_CONSUME = "log-produce-consume"
READS = {"linearizable": LINEARIZABLE, "lease": LEASE, "stale": STALE}
ACKS = {"all": ALL, "leader": LEADER}


def kv_register(
    *,
    clients: int = 4,
    keys: int = 3,
    rate_per_client: float = 20.0,
    reads: str = "linearizable",
    pinned_to: str | None = None,
) -> Workload:
    """Clients reading, writing and compare-and-setting a few KV keys; each follows the
    leader, or all talk to `pinned_to` only (what that node answers is what is recorded).
    Judge with checkers.linearizable()."""
    if clients < 1 or keys < 1 or rate_per_client <= 0:
        raise ScenarioError("kv_register: clients, keys and rate_per_client must be positive")
    if reads not in READS:
        raise ScenarioError(f"kv_register: reads is one of {sorted(READS)}, not {reads!r}")
    spec = WorkloadSpec(
        tuple(ClientSpec(f"client-{i}", pinned_to) for i in range(1, clients + 1)),
        keys=tuple(f"k{i}" for i in range(keys)),
        rate_per_client=rate_per_client,
        read_consistency=READS[reads],
    )
    needs = ("kv",)
    return Workload(KV_REGISTER, spec, run_workload, "kv", lambda c: {"workload": "kv"}, needs)


def log_produce_consume(
    *,
    topic: str = "scenario",
    partitions: int = 1,
    acks: str = "all",
    producers: int = 3,
    rate_per_producer: float = 40.0,
) -> Workload:
    """Producers sending unique records to a topic (created before the run, every
    partition led) and a consumer per partition following it; after the run every
    partition is read to its end. "workload" names partition 0's Raft group. Judge with
    checkers.no_acknowledged_loss()."""
    if partitions < 1 or producers < 1 or rate_per_producer <= 0:
        raise ScenarioError(
            "log_produce_consume: partitions, producers and rate_per_producer must be positive"
        )
    if acks not in ACKS:
        raise ScenarioError(f"log_produce_consume: acks is one of {sorted(ACKS)}, not {acks!r}")
    spec = producing.LogSpec(
        topic,
        partitions=partitions,
        acks=ACKS[acks],
        producers=producers,
        rate_per_producer=rate_per_producer,
    )

    def setup(cluster: Cluster) -> dict[str, str]:
        groups = asyncio.run(producing.create_topic(cluster.topology, topic, partitions))
        cluster.wait_for_leader(group=groups[0], timeout_s=20.0)
        return {"workload": groups[0]} | {f"partition-{i}": g for i, g in enumerate(groups)}

    return Workload(LOG_PRODUCE_CONSUME, spec, producing.run, "log/meta", setup, ("log",))
