"""Workloads a scenario can run: the ones the catalogue's experiments use.

    workloads.kv_register(clients=4, rate_per_client=20, reads="linearizable")
    workloads.kv_register(leader_readers=2, readers=1, writers=2)   # reads: the mode's
    workloads.log_produce_consume(partitions=1, acks="all")
    workloads.lock_set(contenders=3, ttl_s=2.0, fenced=True)
    workloads.gateway_calls(call="kv-get", callers=8)
    workloads.kafka_produce(acks="1")          # librdkafka through the Kafka ports
    workloads.etcd_counter(contenders=2)       # etcd's Go client: a counter under its Mutex

A setting left None comes from the mode: its `read_consistency`, or `settings["acks"]`,
so one scenario's unsafe and safe modes can differ in nothing else.
"""

from __future__ import annotations

import asyncio

from chaos import etcd_counter as etcd_counter_workload
from chaos import gateway_calls as gateway_workload
from chaos import kafka_produce as kafka_produce_workload
from chaos import lock_set as lock_set_workload
from chaos import producing
from chaos.experiments.base import Mode
from chaos.goclients import built
from chaos.nemesis import current_leader
from chaos.scenario.model import ScenarioError, Targets, Workload
from chaos.workload import ClientSpec, WorkloadSpec, run_workload
from cluster.backend import Cluster
from cluster.client import LEASE, LINEARIZABLE, STALE
from cluster.client.log import ALL, LEADER

KV_REGISTER = "kv-register"
LOG_PRODUCE_CONSUME = "log-produce-consume"
LOCK_SET = "lock-set"
GATEWAY_CALLS = "gateway-calls"
KAFKA_PRODUCE = "kafka-produce"
ETCD_COUNTER = "etcd-counter"
CALL_GROUPS = {"kv-get": "kv", "kv-stale-get": "kv", "lock-sessions": "lock"}
READS = {"linearizable": LINEARIZABLE, "lease": LEASE, "stale": STALE}
ACKS = {"all": ALL, "leader": LEADER}


def kv_register(
    *,
    clients: int = 4,
    readers: int = 0,
    writers: int = 0,
    leader_readers: int = 0,
    keys: int = 3,
    rate_per_client: float = 20.0,
    reads: str | None = None,
) -> Workload:
    """Clients reading, writing and compare-and-setting a few KV keys, following the
    leader: `clients` do all three, `readers` only read, `writers` only write;
    `leader_readers` only read, pinned to the node leading when the run starts (what a
    leader cut off later answers is what is recorded). `reads`: linearizable, lease or
    stale; None, the mode's. A mode's settings["leader_reads"] (read kinds, taken in turn)
    gives the pinned readers their own. Judge with checkers.linearizable()."""
    if min(clients, readers, writers, leader_readers) < 0 or keys < 1 or rate_per_client <= 0:
        raise ScenarioError("kv_register: counts, keys and rate_per_client must be positive")
    if clients + readers + writers + leader_readers == 0:
        raise ScenarioError("kv_register: no clients")
    if reads is not None and reads not in READS:
        raise ScenarioError(f"kv_register: reads is one of {sorted(READS)}, not {reads!r}")

    def spec(cluster: Cluster, targets: Targets, mode: Mode) -> WorkloadSpec:
        leader = current_leader(cluster) if leader_readers else None
        chosen = mode.settings.get("leader_reads", ())
        kinds = [READS[str(k)] for k in chosen] if isinstance(chosen, tuple | list) else []
        pinned = [
            ClientSpec(
                f"reader-old-leader-{i}",
                leader,
                writes=False,
                consistency=kinds[(i - 1) % len(kinds)] if kinds else None,
            )
            for i in range(1, leader_readers + 1)
        ]
        both = [ClientSpec(f"client-{i}", None) for i in range(1, clients + 1)]
        read = [ClientSpec(f"reader-{i}", None, writes=False) for i in range(1, readers + 1)]
        write = [ClientSpec(f"writer-{i}", None, reads=False) for i in range(1, writers + 1)]
        return WorkloadSpec(
            tuple(pinned + both + read + write),
            keys=tuple(f"k{i}" for i in range(keys)),
            rate_per_client=rate_per_client,
            read_consistency=mode.read_consistency if reads is None else READS[reads],
        )

    return Workload(KV_REGISTER, spec, run_workload, "kv", lambda c: {"workload": "kv"}, ("kv",))


def log_produce_consume(
    *,
    topic: str = "scenario",
    partitions: int = 1,
    acks: str | None = None,
    producers: int = 3,
    rate_per_producer: float = 40.0,
) -> Workload:
    """Producers sending unique records to a topic (created before the run, every
    partition led) and a consumer per partition following it; after the run every
    partition is read to its end. "workload" names partition 0's Raft group. `acks`: all
    or leader; None, the mode's settings["acks"] (all when unset). Judge with
    checkers.no_acknowledged_loss()."""
    if partitions < 1 or producers < 1 or rate_per_producer <= 0:
        raise ScenarioError(
            "log_produce_consume: partitions, producers and rate_per_producer must be positive"
        )
    if acks is not None and acks not in ACKS:
        raise ScenarioError(f"log_produce_consume: acks is one of {sorted(ACKS)}, not {acks!r}")

    def spec(cluster: Cluster, targets: Targets, mode: Mode) -> producing.LogSpec:
        chosen = acks or str(mode.settings.get("acks", "all"))
        return producing.LogSpec(
            topic,
            partitions=partitions,
            acks=ACKS[chosen],
            producers=producers,
            rate_per_producer=rate_per_producer,
        )

    def setup(cluster: Cluster) -> dict[str, str]:
        groups = asyncio.run(producing.create_topic(cluster.topology, topic, partitions))
        cluster.wait_for_leader(group=groups[0], timeout_s=20.0)
        return {"workload": groups[0]} | {f"partition-{i}": g for i, g in enumerate(groups)}

    return Workload(LOG_PRODUCE_CONSUME, spec, producing.run, "log/meta", setup, ("log",))


def lock_set(
    *, contenders: int = 3, ttl_s: float = 2.0, fenced: bool | None = None, lock: str = "scenario"
) -> Workload:
    """Contenders taking the lock `lock` in turn, each turn adding an element to a set kept
    in one KV key (read, add, write back) and letting go; the service's expiries are
    recorded, and the set is read after the run. `fenced`: each write carries the lock's
    token (None: the mode's settings["fenced"], off when unset). Needs kv and lock groups;
    judge with checkers.lock_safety()."""
    if contenders < 1 or ttl_s <= 0:
        raise ScenarioError("lock_set: contenders and ttl_s must be positive")

    def spec(cluster: Cluster, targets: Targets, mode: Mode) -> lock_set_workload.LockSetSpec:
        chosen = bool(mode.settings.get("fenced")) if fenced is None else fenced
        return lock_set_workload.LockSetSpec(lock, f"{lock}/set", contenders, ttl_s, chosen)

    return Workload(
        LOCK_SET,
        spec,
        lock_set_workload.run,
        "lock",
        lambda c: {"workload": "lock"},
        ("kv", "lock"),
    )


def gateway_calls(
    *, call: str = "kv-get", callers: int = 8, api_key: str = "demo-key", timeout_s: float = 1.0
) -> Workload:
    """Callers making one call after another through the gateway replicas in turn: "kv-get"
    (a linearizable read, the KV leader answers), "kv-stale-get" (any replica) or
    "lock-sessions"; each an operation of f "call", ok or failed with its reason
    (RATE_LIMITED, OVERLOADED, ...). Needs a gateway group and the group the call reaches;
    judge with checkers.latency_below(op="call", ...) or checkers.answered_at_least(...)."""
    if call not in CALL_GROUPS:
        raise ScenarioError(f"gateway_calls: call is one of {sorted(CALL_GROUPS)}, not {call!r}")
    if callers < 1 or timeout_s <= 0:
        raise ScenarioError("gateway_calls: callers and timeout_s must be positive")
    backend = CALL_GROUPS[call]

    def spec(cluster: Cluster, targets: Targets, mode: Mode) -> gateway_workload.GatewayLoadSpec:
        return gateway_workload.GatewayLoadSpec(
            api_key, callers=callers, timeout_s=timeout_s, call=call
        )

    return Workload(
        GATEWAY_CALLS,
        spec,
        gateway_workload.run,
        backend,
        lambda c: {"workload": backend},
        (backend, "gateway"),
    )


def kafka_produce(*, topic: str = "scenario-kafka", acks: str | None = None) -> Workload:
    """librdkafka (confluent-kafka), as an application runs it, producing to a topic of one
    partition (created and led before the run) through the log nodes' Kafka ports for the
    whole run; then librdkafka reads the partition back from its start. `acks`: "1" or
    "all" (with idempotence); None, the mode's settings["acks"] ("all" when unset).
    "workload" names the partition's Raft group. Judge with
    checkers.no_acknowledged_loss()."""
    kafka_acks = kafka_produce_workload.KAFKA_ACKS
    if acks is not None and acks not in kafka_acks:
        raise ScenarioError(f"kafka_produce: acks is one of {list(kafka_acks)}, not {acks!r}")

    def spec(
        cluster: Cluster, targets: Targets, mode: Mode
    ) -> kafka_produce_workload.KafkaProduceSpec:
        chosen = acks or str(mode.settings.get("acks", "all"))
        if chosen not in kafka_acks:
            raise ScenarioError(f"kafka_produce: the mode's acks {chosen!r} is not 1 or all")
        return kafka_produce_workload.KafkaProduceSpec(chosen, topic)

    def setup(cluster: Cluster) -> dict[str, str]:
        [group] = asyncio.run(producing.create_topic(cluster.topology, topic))
        cluster.wait_for_leader(group=group, timeout_s=20.0)
        return {"workload": group, "partition-0": group}

    return Workload(KAFKA_PRODUCE, spec, kafka_produce_workload.run, "log/meta", setup, ("log",))


def etcd_counter(*, contenders: int = 2, ttl_s: int = 5, fenced: bool | None = None) -> Workload:
    """etcd's own Go client (go.etcd.io/etcd/client/v3) through the KV nodes' etcd API:
    `contenders` processes, each incrementing a counter under concurrency.Mutex (lock,
    read n, write n+1, unlock) for the whole run, with a session lease of `ttl_s`; the
    counter is read after the run. `fenced`: each write a Txn guarded by Mutex.IsOwner
    (None: the mode's settings["fenced"], off when unset). Built with Go on first use.
    Judge with checkers.counter_safety()."""
    if contenders < 1 or ttl_s < 1:
        raise ScenarioError("etcd_counter: contenders and ttl_s must be at least 1")

    def spec(
        cluster: Cluster, targets: Targets, mode: Mode
    ) -> etcd_counter_workload.EtcdCounterSpec:
        chosen = bool(mode.settings.get("fenced")) if fenced is None else fenced
        return etcd_counter_workload.EtcdCounterSpec(chosen, contenders, ttl_s)

    def setup(cluster: Cluster) -> dict[str, str]:
        built("etcdclient")  # before the run's clock starts: a first build fetches modules
        return {"workload": "kv"}

    return Workload(ETCD_COUNTER, spec, etcd_counter_workload.run, "kv", setup, ("kv",))
