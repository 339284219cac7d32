"""Chaos Toolkit probes of a running faultlab cluster (provider type "python", module
"chaos.ctk.probes"): who leads, which nodes serve, which links carry, and the verdict of
a short workload judged by faultlab's checkers, for a steady-state hypothesis:

    {"type": "probe", "name": "kv-stays-linearizable", "tolerance": true,
     "provider": {"type": "python", "module": "chaos.ctk.probes", "func": "kv_linearizable",
                  "arguments": {"seconds": 4, "reads": "${reads}", "readers_on": "cut-off"}}}
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from chaos import lock_set, lock_slow_step, producing
from chaos.checkers import linearizability
from chaos.checkers import lock as lock_checker
from chaos.checkers import log as log_checker
from chaos.checkers.latency import latency_ms
from chaos.ctk import target
from chaos.history import History, pair
from chaos.net import cut_of
from chaos.scenario.workloads import ACKS, READS
from chaos.workload import ClientSpec, WorkloadSpec, run_workload
from cluster import admin_client
from cluster.toxiproxy import ToxiproxyClient

CUT_OFF = "cut-off"

__all__ = [
    "all_serving",
    "cut_off",
    "kv_latency",
    "kv_linearizable",
    "leader",
    "lock_safe",
    "log_no_acknowledged_loss",
    "serving",
]


def leader(group: str = "kv") -> str:
    """The node a majority of `group`'s voters follow; "" when there is none."""
    topo = target.topology()
    members = [n.id for n in topo.group_nodes(group.split("/")[0])]
    return admin_client.leader_of(topo, members, group) or ""


def serving() -> dict[str, bool]:
    """Each node: does it answer its admin status?"""
    statuses = admin_client.fetch_all(target.topology())
    return {node: not isinstance(status, str) for node, status in statuses.items()}


def all_serving() -> bool:
    return all(serving().values())


def cut_off() -> list[str]:
    """The nodes whose links to every peer are cut (a toxic or a disabled proxy): what an
    `isolate` action leaves, as Toxiproxy holds it."""
    st = target.cluster()
    with ToxiproxyClient(st.toxiproxy_api) as client:
        proxies = client.proxies()
    topo = st.topology()

    def cut(src: str, dst: str) -> bool:
        return cut_of(proxies.get(topo.link(src, dst).name, {})) is not None

    return [
        n.id
        for n in topo.nodes
        if (peers := [p.id for p in topo.peers(n.id)]) and all(cut(n.id, p) for p in peers)
    ]


def kv_linearizable(
    seconds: float = 4.0, reads: str = "linearizable", readers_on: str = "", rate: float = 25.0
) -> bool:
    """Run a KV workload for `seconds` (two writers following the leader; two readers
    pinned to `readers_on`: a node, "leader", or "cut-off", the node an isolate action
    cut off, or the leader while none is, so one hypothesis reads from the node a method
    cuts off, before and after; with no `readers_on`, the readers follow the leader) and
    say whether its history is linearizable. `reads`: linearizable, lease or stale.
    (A stale read by a client following the leader may be served by any replica, and a
    follower may not yet have applied what the leader acknowledged: not linearizable even
    with no fault at all. Pin stale readers to the node under test.)"""
    if reads not in READS:
        raise target.ActivityError(f"reads is one of {sorted(READS)}, not {reads!r}")
    topo = target.topology()
    pinned = _pinned(readers_on)
    clients = [ClientSpec("writer-1", None, reads=False), ClientSpec("writer-2", None, reads=False)]
    clients += [
        ClientSpec(f"reader-{pinned or 'leader'}-{i}", pinned, writes=False) for i in (1, 2)
    ]
    # Keys of this run's own: the checker's model starts from keys never written, and an
    # earlier probe's values must not look like writes this history lacks.
    keys = tuple(f"ctk-{uuid.uuid4().hex[:8]}-k{i}" for i in range(3))
    spec = WorkloadSpec(
        tuple(clients), keys=keys, rate_per_client=rate, read_consistency=READS[reads]
    )
    history = History()
    asyncio.run(run_workload(spec, topo, history, seconds, seed=1))
    return linearizability.check(list(pair(history.events))).valid


def kv_latency(seconds: float = 3.0, rate: float = 50.0) -> dict[str, float]:
    """Acknowledged KV writes per second and their latency percentiles (ms) over a short
    workload following the leader: {"ops_per_s", "p50_ms", "p99_ms"}."""
    spec = WorkloadSpec((ClientSpec("writer-1", None, reads=False),), rate_per_client=rate)
    history = History()
    asyncio.run(run_workload(spec, target.topology(), history, seconds, seed=1))
    figures = latency_ms(list(pair(history.events)), "write", 0.0, seconds + 1.0)
    return {
        "ops_per_s": round(figures["count"] / seconds, 1),
        "p50_ms": round(figures["p50"], 2),
        "p99_ms": round(figures["p99"], 2),
    }


def log_no_acknowledged_loss(seconds: float = 4.0, acks: str = "all") -> bool:
    """Produce to a topic of this run's own (one partition, three replicas) for `seconds`
    with a consumer following it, read it to the end, and say whether every acknowledged
    record is there, once, in order (faultlab's log checker). `acks`: all or leader."""
    if acks not in ACKS:
        raise target.ActivityError(f"acks is one of {sorted(ACKS)}, not {acks!r}")
    topo = target.topology()
    topic = f"ctk-{uuid.uuid4().hex[:8]}"
    asyncio.run(producing.create_topic(topo, topic))
    spec = producing.LogSpec(topic, acks=ACKS[acks])
    history = History()
    asyncio.run(producing.run(spec, topo, history, seconds, seed=1))
    return log_checker.check(list(pair(history.events))).valid


def lock_safe(fenced: bool | str = True, hold_s: float = 3.0) -> bool:
    """A holder takes a lock of this run's own and works for up to `hold_s` between its
    read and its write of the set the lock protects, two contenders waiting
    (chaos/lock_slow_step.py); then say whether every acknowledged add is in the set and
    no write went in under a stale token (faultlab's lock checker). It breaks when the
    holder's session expires while it works (the lock leader's clock made fast with
    skew_clock, say) and writes are not `fenced`."""
    if hold_s <= 0:
        raise target.ActivityError(f"hold_s must be above 0, not {hold_s!r}")
    fenced = target.flag("fenced", fenced)
    st = target.cluster()
    name = f"ctk-{uuid.uuid4().hex[:8]}"
    spec = lock_slow_step.SlowStepSpec(
        Path(st.topology_path), name, f"{name}/set", fenced, float(hold_s)
    )
    history = History()
    asyncio.run(lock_slow_step.run(spec, st.topology(), history))
    operations = list(pair(history.events))
    final = {
        op.key: op.output
        for op in operations
        if op.process == lock_set.FINAL and op.outcome == "ok"
    }
    return lock_checker.check(operations, final).safe


def _pinned(readers_on: str) -> str | None:
    if not readers_on:
        return None
    if readers_on != CUT_OFF:
        return target.node(readers_on)
    found = cut_off()
    return found[0] if found else target.node(target.LEADER)
