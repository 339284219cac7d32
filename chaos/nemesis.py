"""Faults on a schedule, recorded in the history, and always undone at the end.

A nemesis is a list of `Fault`s: each injects its fault `at_s` seconds into the run and
returns a description, and heals it `duration_s` later. Every start and stop is an event of
the process "nemesis". Builders below: isolate the leader or a node, random halves,
kill -9 and restart, pause and resume (SIGSTOP), latency on a node; on lazy disks
(chaos.disk), a power cut and a slow disk; on fake clocks (cluster/clocks.py), a skew.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from chaos.disk import nodes as disks
from chaos.disk.finding import disk_control, disk_controls
from chaos.history import NEMESIS, History
from chaos.net import Network
from cluster.backend import Cluster
from cluster.clocks import NodeClock, node_clocks
from cluster.waiting import WaitTimeout
from services.runtime.topology import CLIENT

LEADER_WAIT_S = 10.0  # for a leader to aim at, when a fault finds an election under way


@dataclass(frozen=True)
class Fault:
    name: str
    at_s: float
    duration_s: float
    inject: Callable[[Cluster, Network], str]
    heal: Callable[[Cluster, Network], None]
    # One after another: an exclusive fault starts no sooner than the previous exclusive
    # one has healed. A heal can take a while (a restarted node must serve first); a
    # random timeline's next fault must not find that node still down.
    exclusive: bool = False


async def run_nemesis(faults: list[Fault], cluster: Cluster, history: History) -> None:
    assert cluster.toxiproxy is not None
    net = Network(cluster.toxiproxy, cluster.topology)
    one_at_a_time = asyncio.Lock()
    try:
        await asyncio.gather(*(_one(f, cluster, net, history, one_at_a_time) for f in faults))
    finally:
        net.heal()  # whatever happened, no fault outlives the run


async def _one(
    fault: Fault, cluster: Cluster, net: Network, history: History, turn: asyncio.Lock
) -> None:
    await asyncio.sleep(fault.at_s)
    async with turn if fault.exclusive else contextlib.nullcontext():
        description = await asyncio.to_thread(fault.inject, cluster, net)
        history.record(NEMESIS, "invoke", fault.name, value=description)
        try:
            await asyncio.sleep(fault.duration_s)
        finally:
            await asyncio.to_thread(fault.heal, cluster, net)
            history.record(NEMESIS, "info", fault.name, value=f"healed: {description}")


def current_leader(cluster: Cluster, group: str = "kv") -> str:
    """The leader to aim at; an election under way (an earlier fault's) is waited out."""
    try:
        return cluster.wait_for_leader(group=group, timeout_s=LEADER_WAIT_S)
    except WaitTimeout:
        raise RuntimeError(f"no leader of {group} to aim the fault at") from None


def isolate_leader(name: str, at_s: float, duration_s: float, group: str = "kv") -> Fault:
    """Cut the current leader of Raft group `group` from its peers (clients still reach
    it)."""
    target: dict[str, str] = {}

    def inject(cluster: Cluster, net: Network) -> str:
        target["node"] = current_leader(cluster, group)
        net.isolate(target["node"])
        return f"isolated {target['node']}, leader of {group}"

    return Fault(name, at_s, duration_s, inject, lambda c, net: net.heal())


def isolate_node(name: str, node_id: str, at_s: float, duration_s: float) -> Fault:
    def inject(cluster: Cluster, net: Network) -> str:
        net.isolate(node_id)
        return f"isolated {node_id}"

    return Fault(name, at_s, duration_s, inject, lambda c, net: net.heal())


def random_halves(name: str, rng: random.Random, at_s: float, duration_s: float) -> Fault:
    """Split the group at random into a majority and a minority, both ways."""

    def inject(cluster: Cluster, net: Network) -> str:
        ids = [n.id for n in cluster.topology.nodes]
        shuffled = rng.sample(ids, len(ids))
        cut = len(ids) // 2
        net.partition([shuffled[:cut], shuffled[cut:]])
        return f"partitioned {shuffled[:cut]} | {shuffled[cut:]}"

    return Fault(name, at_s, duration_s, inject, lambda c, net: net.heal())


def kill_and_restart(name: str, node_id: str | None, at_s: float, down_s: float) -> Fault:
    """kill -9 a node (the leader when `node_id` is None), and start it again later.

    The restart runs in an executor thread, and node processes die with the thread that
    started them: the run's executor lives until the run ends, and the cluster is closed
    right after, so that is the life the restarted node needs."""
    target: dict[str, str] = {}

    def inject(cluster: Cluster, net: Network) -> str:
        target["node"] = node_id or current_leader(cluster)
        cluster.kill(target["node"])
        return f"killed -9 {target['node']}"

    def heal(cluster: Cluster, net: Network) -> None:
        cluster.start_node(target["node"])

    return Fault(name, at_s, down_s, inject, heal)


def pause_and_resume(name: str, node_id: str | None, at_s: float, paused_s: float) -> Fault:
    """SIGSTOP a node (the leader when `node_id` is None), as a long GC pause would."""
    target: dict[str, str] = {}

    def inject(cluster: Cluster, net: Network) -> str:
        target["node"] = node_id or current_leader(cluster)
        cluster.pause(target["node"])
        return f"paused {target['node']}"

    return Fault(name, at_s, paused_s, inject, lambda c, net: c.resume(target["node"]))


def slow_node(name: str, node_id: str, latency_ms: int, at_s: float, duration_s: float) -> Fault:
    """Every answer from `node_id` (to peers and clients) `latency_ms` late."""

    def inject(cluster: Cluster, net: Network) -> str:
        net.latency(node_id, latency_ms)
        return f"{latency_ms} ms latency into {node_id}"

    return Fault(name, at_s, duration_s, inject, lambda c, net: net.heal())


def slow_store(name: str, latency_ms: int, at_s: float, duration_s: float) -> Fault:
    """Every KV node answers the gateways `latency_ms` late: a loaded database, what
    makes a cache's fill take long enough for readers to pile up behind it."""

    def inject(cluster: Cluster, net: Network) -> str:
        for gateway in cluster.topology.group_nodes("gateway"):
            for store in cluster.topology.group_nodes("kv"):
                net.latency((gateway.id, store.id), latency_ms)
        return f"every KV node answers the gateways {latency_ms} ms late"

    return Fault(name, at_s, duration_s, inject, lambda c, net: net.heal())


def late_answers_to_clients(name: str, latency_ms: int, at_s: float, duration_s: float) -> Fault:
    """The leader's answers to clients arrive `latency_ms` late (and so after the clients'
    deadlines): requests still reach it and commit, only the responses are lost."""
    target: dict[str, str] = {}

    def inject(cluster: Cluster, net: Network) -> str:
        target["node"] = current_leader(cluster)
        net.latency((CLIENT, target["node"]), latency_ms)
        return f"answers from leader {target['node']} to clients {latency_ms} ms late"

    return Fault(name, at_s, duration_s, inject, lambda c, net: net.heal())


def power_cut(
    name: str,
    node_ids: list[str] | None,
    at_s: float,
    down_s: float,
    torn_seed: int | None = None,
) -> Fault:
    """kill -9 the nodes (every node with a lazy disk when `node_ids` is None) and drop
    what their disks had not made durable, as one power failure would; power them on
    again `down_s` later. Needs the cluster run on lazy disks (chaos.disk.NodeDisks)."""
    target: list[str] = []

    def inject(cluster: Cluster, net: Network) -> str:
        target[:] = node_ids or sorted(disk_controls(cluster.run_dir))
        if not target:
            raise RuntimeError("a power cut needs the cluster on lazy disks (NodeDisks)")
        reports = disks.power_cut(cluster, target, torn_seed, restart=False)
        lost = sum(r["bytes_dropped"] for r in reports.values())
        undone = sum(len(r["entries_undone"]) for r in reports.values())
        return f"power cut {','.join(target)}: {lost} un-fsynced bytes and {undone} entries lost"

    def heal(cluster: Cluster, net: Network) -> None:
        for node in target:
            cluster.start_node(node, wait=False)
        for node in target:
            cluster.wait_serving(node)

    return Fault(name, at_s, down_s, inject, heal)


def disk_fault(
    name: str,
    role: str,
    at_s: float,
    duration_s: float,
    group: str = "kv",
    **faults: float | bool,
) -> Fault:
    """`faults` (chaos.disk.fs.DiskFaults: fsync_delay_ms, write_delay_ms, fsync_error,
    write_error) on one node's disk: the `group` leader's (role "leader") or one of its
    followers' (role "follower"), as they are at `at_s`."""
    target: dict[str, str] = {}

    def inject(cluster: Cluster, net: Network) -> str:
        leader = current_leader(cluster, group)
        followers = [n.id for n in cluster.topology.group_nodes(group) if n.id != leader]
        target["node"] = leader if role == "leader" else followers[0]
        disk_control(cluster.run_dir, target["node"]).set_faults(**faults)
        shown = ", ".join(f"{k}={v}" for k, v in faults.items())
        return f"disk of {target['node']} ({role} of {group}): {shown}"

    def heal(cluster: Cluster, net: Network) -> None:
        disk_control(cluster.run_dir, target["node"]).clear_faults()

    return Fault(name, at_s, duration_s, inject, heal)


def slow_disk(
    name: str, role: str, delay_ms: float, at_s: float, duration_s: float, group: str = "kv"
) -> Fault:
    """Every fsync on the leader's or a follower's disk `delay_ms` late."""
    return disk_fault(name, role, at_s, duration_s, group, fsync_delay_ms=delay_ms)


def node_clock(cluster: Cluster, node_id: str) -> NodeClock:
    """`node_id`'s skewable clock, or RuntimeError when the cluster runs on real clocks."""
    clock = node_clocks(cluster.run_dir).get(node_id)
    if clock is None:
        raise RuntimeError(
            f"a clock fault needs {node_id} under libfaketime: the cluster started with "
            "fake clocks (LocalCluster(fake_clocks=True), faultlab up --clocks)"
        )
    return clock


def clock_skew(
    name: str,
    node_id: str | None,
    jump_s: float,
    rate: float | None,
    at_s: float,
    duration_s: float,
    group: str = "kv",
) -> Fault:
    """Jump `node_id`'s clock (None: the `group` leader's at `at_s`) by `jump_s` and/or run
    it at `rate`; real time again at the end."""
    target: dict[str, str] = {}

    def inject(cluster: Cluster, net: Network) -> str:
        target["node"] = node_id or current_leader(cluster, group)
        state = node_clock(cluster, target["node"]).skew(jump_s, rate)
        return f"clock of {target['node']}: {state.describe(state.anchor_real_s)}"

    def heal(cluster: Cluster, net: Network) -> None:
        node_clock(cluster, target["node"]).heal()

    return Fault(name, at_s, duration_s, inject, heal)


def cut_group_from(name: str, sources: str, targets: str, at_s: float, duration_s: float) -> Fault:
    """Blackhole every link from the nodes of group `sources` to those of `targets`
    (the gateways losing the KV store): requests hang, as to a dead host."""

    def inject(cluster: Cluster, net: Network) -> str:
        src = [n.id for n in cluster.topology.group_nodes(sources)]
        dst = [n.id for n in cluster.topology.group_nodes(targets)]
        net.partition_one_way(src, dst)
        return f"cut {', '.join(src)} off from {', '.join(dst)}"

    return Fault(name, at_s, duration_s, inject, lambda c, net: net.heal())
