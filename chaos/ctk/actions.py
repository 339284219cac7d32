"""Chaos Toolkit actions on a running faultlab cluster (provider type "python", module
"chaos.ctk.actions"). A node argument is a node id or "leader" (of `group`). Each
returns what it did, which Chaos Toolkit keeps in the journal.

    {"type": "action", "name": "isolate-the-kv-leader",
     "provider": {"type": "python", "module": "chaos.ctk.actions", "func": "isolate",
                  "arguments": {"node": "leader", "group": "kv"}}}
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chaos.ctk import target
from chaos.disk.control import DiskControl
from chaos.disk.finding import disk_controls
from chaos.net import Cut, Network
from cluster.backend import Run
from cluster.clocks import ClockError, NodeClock, node_clocks

__all__ = [
    "fail_disk",
    "heal",
    "heal_clocks",
    "heal_disks",
    "isolate",
    "kill",
    "latency",
    "one_way",
    "partition",
    "pause",
    "power_cut",
    "restart",
    "resume",
    "skew_clock",
    "slow_disk",
    "start",
]


def _on_network(fn: Callable[[Network], list[str]]) -> list[str]:
    net, client = target.network()
    try:
        return fn(net)
    finally:
        client.close()


def isolate(node: str, group: str = "kv", kind: str = "blackhole") -> list[str]:
    """Cut `node` from every peer of its group, both ways; clients still reach it."""
    victim = target.node(node, group)
    return _on_network(lambda net: net.isolate(victim, Cut(kind)))


def partition(sides: list[list[str]], kind: str = "blackhole") -> list[str]:
    """Cut every link between the sides (lists of node ids), both ways."""
    return _on_network(lambda net: net.partition(sides, Cut(kind)))


def one_way(node: str, direction: str, group: str = "kv") -> list[str]:
    """Cut one direction between `node` and its group's other nodes: "outbound" (what it
    sends is lost) or "inbound" (what it receives is)."""
    if direction not in ("outbound", "inbound"):
        raise target.ActivityError(f"direction is outbound or inbound, not {direction!r}")
    victim = target.node(node, group)
    others = [p.id for p in target.topology().peers(victim)]
    if direction == "outbound":
        return _on_network(lambda net: net.partition_one_way([victim], others))
    return _on_network(lambda net: net.partition_one_way(others, [victim]))


def latency(node: str, ms: int, group: str = "kv", jitter_ms: int = 0) -> list[str]:
    """Everything `node` sends (to peers and clients) arrives `ms` late."""
    victim = target.node(node, group)
    return _on_network(lambda net: net.latency(victim, ms, jitter_ms))


def heal() -> str:
    """Every link whole again: cuts, latency and bandwidth limits removed."""
    net, client = target.network()
    try:
        net.heal()
    finally:
        client.close()
    return "healed every link"


def _control(verb: str, node: str, group: str) -> str:
    victim = target.node(node, group)
    return target.supervisor().control(verb, victim)


def kill(node: str, group: str = "kv") -> str:
    """SIGKILL the node: nothing unflushed survives."""
    return _control("kill", node, group)


def pause(node: str, group: str = "kv") -> str:
    """SIGSTOP the node, as a long GC pause would."""
    return _control("pause", node, group)


def resume(node: str) -> str:
    return _control("resume", node, "kv")


def start(node: str) -> str:
    """Start a stopped or killed node; returns once it serves."""
    return _control("start", node, "kv")


def restart(node: str, group: str = "kv") -> str:
    return _control("restart", node, group)


def _clocks() -> dict[str, NodeClock]:
    clocks = node_clocks(Path(target.cluster().run_dir))
    if not clocks:
        raise ClockError(
            "this cluster's nodes read the real clock; start it with `faultlab up --clocks`"
        )
    return clocks


def skew_clock(
    node: str, jump_ms: float = 0.0, rate: float | None = None, group: str = "kv"
) -> str:
    """Jump the node's clock by `jump_ms` (negative: back) and/or run it `rate` times as
    fast from now on (docs/clocks.md; a cluster started with `faultlab up --clocks`)."""
    victim = target.node(node, group)
    state = _clocks()[victim].skew(jump_ms / 1000, rate)
    return f"clock of {victim}: {state.describe(state.anchor_real_s)}"


def heal_clocks() -> str:
    """Real time again on every node."""
    for clock in _clocks().values():
        clock.heal()
    return "every clock real"


def _disks() -> dict[str, DiskControl]:
    disks = disk_controls(Path(target.cluster().run_dir))
    if not disks:
        raise target.ActivityError(
            "this cluster runs on plain disks; start it with `faultlab up --lazy-disks`"
        )
    return disks


def _disk(node: str, group: str) -> tuple[str, DiskControl]:
    victim = target.node(node, group)
    disks = _disks()
    if victim not in disks:
        raise target.ActivityError(f"{victim} has no lazy disk (disks: {', '.join(disks)})")
    return victim, disks[victim]


def power_cut(node: str = "", group: str = "kv", torn_seed: int | None = None) -> str:
    """Power off `node` (every node on a lazy disk when none is named) as one failure:
    kill -9 them all, drop what their disks had not fsynced (`torn_seed`: keep a random,
    partly zeroed part of each file's unsynced tail), and power them on again; returns
    once they serve (docs/disk.md). A node already stopped (a failed disk stops it) is
    only powered on."""
    disks = dict([_disk(node, group)]) if node else _disks()
    supervisor = target.supervisor()
    states = supervisor.states()
    for victim in disks:
        if states[victim].run is not Run.STOPPED:
            supervisor.control("kill", victim)
    lost = 0
    for i, disk in enumerate(disks.values()):
        seed = None if torn_seed is None else torn_seed * 1000 + i
        lost += int(disk.lose_unsynced(seed)["bytes_dropped"])
    for victim in disks:
        supervisor.control("start", victim)
    return f"power cut {', '.join(disks)}: {lost} un-fsynced bytes lost; serving again"


def slow_disk(node: str, fsync_ms: float, write_ms: float = 0.0, group: str = "kv") -> str:
    """Every fsync (and write) on the node's disk `fsync_ms` (`write_ms`) late."""
    victim, disk = _disk(node, group)
    disk.set_faults(fsync_delay_ms=fsync_ms, write_delay_ms=write_ms)
    return f"disk of {victim}: fsync +{fsync_ms:g} ms, write +{write_ms:g} ms"


def fail_disk(node: str, fsync: bool = True, write: bool = False, group: str = "kv") -> str:
    """EIO from every fsync (and write) on the node's disk: the node stops at its next
    fsync rather than acknowledge what it could not make durable."""
    victim, disk = _disk(node, group)
    disk.set_faults(fsync_error=fsync, write_error=write)
    return f"disk of {victim}: fsync fails={fsync}, write fails={write}"


def heal_disks() -> str:
    """Every disk fault removed (what a power cut lost stays lost)."""
    for disk in _disks().values():
        disk.clear_faults()
    return "every disk healthy"
