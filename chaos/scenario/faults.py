"""Faults for a scenario's timeline, each from `start` to `end` (fractions of the run).

A node is named ("kv2") or is "leader": the leader of `group` when the fault starts
("workload" is the Raft group the workload writes to). Every fault is undone at `end`;
whatever happens, the run heals every link when it ends.

    faults.isolate("leader", start=0.3, end=0.6)
    faults.one_way("leader", direction="outbound", start=0.3, end=0.6)
    faults.kill("kv2", start=0.2, end=0.5)         # kill -9, started again at `end`
    faults.pause("leader", start=0.4, end=0.5)     # SIGSTOP ... SIGCONT
    faults.latency("kv3", ms=200, start=0.1, end=0.9)
    faults.power_cut(start=0.5, end=0.6)           # every node; lazy disks only
    faults.slow_disk("leader", ms=100, start=0.2, end=0.8)
    faults.clock("leader", rate=0.25, start=0.3, end=0.9)  # libfaketime: processes only
"""

from __future__ import annotations

from chaos import nemesis
from chaos.chaos_mesh.steps import MeshStep
from chaos.nemesis import Fault
from chaos.net import Network
from chaos.scenario.model import ScenarioError, Step, Targets
from cluster.backend import Cluster

LEADER = "leader"
PAUSE_NOTE = (
    "Chaos Mesh cannot SIGSTOP a process: pod-failure makes the pod unavailable for the "
    "window and restarts its container, so the node loses the memory a pause keeps"
)
DIRECTIONS = ("outbound", "inbound")


def _aim(node: str, group: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a fault names, for validation: (nodes, groups)."""
    return ((), (group,)) if node == LEADER else ((node,), ())


def _node(cluster: Cluster, targets: Targets, node: str, group: str) -> str:
    if node != LEADER:
        return node
    return nemesis.current_leader(cluster, targets.groups.get(group, group))


def isolate(node: str, *, start: float, end: float, group: str = "workload") -> Step:
    """Cut `node` from every peer of its group, both ways; clients still reach it."""

    def make(cluster: Cluster, targets: Targets, at_s: float, for_s: float) -> Fault:
        def inject(c: Cluster, net: Network) -> str:
            victim = _node(c, targets, node, group)
            net.isolate(victim)
            return f"isolated {victim}"

        return Fault(f"isolate-{node}", at_s, for_s, inject, lambda c, net: net.heal())

    nodes, groups = _aim(node, group)
    mesh = MeshStep(f"isolate-{node}", "partition", node, group, start, end)
    return Step(f"isolate {node}", start, end, make, nodes, groups, mesh=(mesh,))


def one_way(
    node: str, *, direction: str, start: float, end: float, group: str = "workload"
) -> Step:
    """Cut only one direction between `node` and the other nodes of its group:
    "outbound", what it sends never arrives (it hears them, they do not hear it);
    "inbound", what they send it never arrives."""
    if direction not in DIRECTIONS:
        raise ScenarioError(
            f"one_way({node!r}): direction is one of {DIRECTIONS}, not {direction!r}"
        )

    def make(cluster: Cluster, targets: Targets, at_s: float, for_s: float) -> Fault:
        def inject(c: Cluster, net: Network) -> str:
            victim = _node(c, targets, node, group)
            others = [p.id for p in c.topology.peers(victim)]
            if direction == "outbound":
                net.partition_one_way([victim], others)
                return f"cut {victim} -> {', '.join(others)}"
            net.partition_one_way(others, [victim])
            return f"cut {', '.join(others)} -> {victim}"

        return Fault(f"one-way-{direction}-{node}", at_s, for_s, inject, lambda c, n: n.heal())

    nodes, groups = _aim(node, group)
    kind = "partition-to" if direction == "outbound" else "partition-from"
    mesh = MeshStep(f"one-way-{direction}-{node}", kind, node, group, start, end)
    return Step(f"one-way {direction} {node}", start, end, make, nodes, groups, mesh=(mesh,))


def kill(node: str, *, start: float, end: float, group: str = "workload") -> Step:
    """kill -9 `node` at `start`; start it again at `end`."""

    def make(cluster: Cluster, targets: Targets, at_s: float, for_s: float) -> Fault:
        target: dict[str, str] = {}

        def inject(c: Cluster, net: Network) -> str:
            target["node"] = _node(c, targets, node, group)
            c.kill(target["node"])
            return f"killed -9 {target['node']}"

        def heal(c: Cluster, net: Network) -> None:
            c.start_node(target["node"])  # as nemesis.kill_and_restart does

        return Fault(f"kill-{node}", at_s, for_s, inject, heal, exclusive=True)

    nodes, groups = _aim(node, group)
    mesh = MeshStep(
        f"kill-{node}",
        "pod-kill",
        node,
        group,
        start,
        end,
        note="SIGKILL, but the StatefulSet starts the pod again at once: the lab keeps "
        "the node down until `end`",
    )
    return Step(f"kill {node}", start, end, make, nodes, groups, exclusive=True, mesh=(mesh,))


def pause(node: str, *, start: float, end: float, group: str = "workload") -> Step:
    """SIGSTOP `node` at `start` (a long GC pause), SIGCONT at `end`."""

    def make(cluster: Cluster, targets: Targets, at_s: float, for_s: float) -> Fault:
        target: dict[str, str] = {}

        def inject(c: Cluster, net: Network) -> str:
            target["node"] = _node(c, targets, node, group)
            c.pause(target["node"])
            return f"paused {target['node']}"

        return Fault(f"pause-{node}", at_s, for_s, inject, lambda c, n: c.resume(target["node"]))

    nodes, groups = _aim(node, group)
    mesh = MeshStep(f"pause-{node}", "pod-failure", node, group, start, end, note=PAUSE_NOTE)
    return Step(f"pause {node}", start, end, make, nodes, groups, exclusive=True, mesh=(mesh,))


def latency(node: str, *, ms: int, start: float, end: float, group: str = "workload") -> Step:
    """Everything `node` sends (to peers and clients) arrives `ms` late."""
    if ms <= 0:
        raise ScenarioError(f"latency({node!r}): ms must be positive, not {ms}")

    def make(cluster: Cluster, targets: Targets, at_s: float, for_s: float) -> Fault:
        def inject(c: Cluster, net: Network) -> str:
            victim = _node(c, targets, node, group)
            net.latency(victim, ms)
            return f"{ms} ms latency into {victim}"

        return Fault(f"latency-{node}", at_s, for_s, inject, lambda c, n: n.heal())

    nodes, groups = _aim(node, group)
    mesh = MeshStep(f"latency-{node}", "delay", node, group, start, end, latency_ms=ms)
    return Step(f"latency {node} {ms} ms", start, end, make, nodes, groups, mesh=(mesh,))


def clock(
    node: str,
    *,
    start: float,
    end: float,
    jump_ms: float = 0.0,
    rate: float | None = None,
    group: str = "workload",
) -> Step:
    """At `start`, jump `node`'s clock by `jump_ms` (negative: back) and/or make it run
    `rate` times as fast (0.25: a quarter speed); real time again at `end`. Every node of
    the scenario then runs under libfaketime, on the process backend (cluster/clocks.py)."""
    if rate is not None and not 0.0 < rate <= 100.0:
        raise ScenarioError(f"clock({node!r}): rate must be in (0, 100], not {rate}")
    if not jump_ms and rate is None:
        raise ScenarioError(f"clock({node!r}): give a jump_ms, a rate or both")

    def make(cluster: Cluster, targets: Targets, at_s: float, for_s: float) -> Fault:
        victim = None if node == LEADER else node
        aimed = targets.groups.get(group, group)
        return nemesis.clock_skew(f"clock-{node}", victim, jump_ms / 1000, rate, at_s, for_s, aimed)

    shown = " ".join(
        part
        for part in (f"{jump_ms:+g} ms" if jump_ms else "", f"x{rate:g}" if rate else "")
        if part
    )
    nodes, groups = _aim(node, group)
    if rate is None:
        offset = MeshStep(
            f"clock-{node}", "time-offset", node, group, start, end, offset_ms=int(jump_ms)
        )
        return Step(
            f"clock {node} {shown}", start, end, make, nodes, groups, clock=True, mesh=(offset,)
        )
    gap = "TimeChaos shifts a clock by an offset; it cannot make one run slow or fast"
    return Step(f"clock {node} {shown}", start, end, make, nodes, groups, clock=True, mesh_gap=gap)


def power_cut(nodes: list[str] | None = None, *, start: float, end: float) -> Step:
    """kill -9 `nodes` (default: every node) and drop what their disks had not made
    durable, as a power failure would; power them on at `end`. Needs lazy disks."""

    def make(cluster: Cluster, targets: Targets, at_s: float, for_s: float) -> Fault:
        return nemesis.power_cut("power-cut", nodes, at_s, for_s)

    shown = ", ".join(nodes) if nodes else "every node"
    note = (
        "a pod kill: what the disk had not made durable survives it, which the lab's power "
        "cut drops (lazy disks); Chaos Mesh has no power cut"
    )
    mesh = tuple(
        MeshStep(
            "power-cut",
            "pod-kill",
            n,
            "all" if n == "all" else n.rstrip("0123456789"),
            start,
            end,
            note=note,
        )
        for n in (nodes or ["all"])
    )
    return Step(
        f"power cut {shown}",
        start,
        end,
        make,
        tuple(nodes or ()),
        exclusive=True,
        disk=True,
        mesh=mesh,
    )


def slow_disk(role: str, *, ms: float, start: float, end: float, group: str = "kv") -> Step:
    """Every fsync on the disk of `group`'s leader (role "leader") or of one of its
    followers ("follower") `ms` late. Needs lazy disks."""
    if role not in ("leader", "follower"):
        raise ScenarioError(f"slow_disk: role is leader or follower, not {role!r}")
    if ms <= 0:
        raise ScenarioError(f"slow_disk: ms must be positive, not {ms}")

    def make(cluster: Cluster, targets: Targets, at_s: float, for_s: float) -> Fault:
        return nemesis.slow_disk(f"slow-disk-{role}", role, ms, at_s, for_s, group)

    mesh = MeshStep(f"slow-disk-{role}", "io-latency", role, group, start, end, latency_ms=int(ms))
    return Step(
        f"slow disk {role} {ms} ms", start, end, make, (), (group,), disk=True, mesh=(mesh,)
    )
