"""The page's controls, each through the code the CLI runs: links through
`chaos.net.Network` (as `faultlab net`), processes through the node controls (as
`faultlab node`: the supervisor, or the Docker engine for a compose cluster), power cuts
through the lazy disks' controls. A request is a JSON object; a bad one is refused with a
message that says what is wrong, and nothing is done."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, TypeGuard

from chaos.disk.control import DiskControlError
from chaos.disk.finding import disk_controls
from chaos.net import Cut, NetError, Network, Target
from cluster.cli.node import apply as control_node
from cluster.clocks import ClockError, node_clocks
from cluster.node_control import VERBS, NodeControlError
from cluster.state import ClusterState
from cluster.supervisor import SupervisorError, SupervisorUnreachable
from cluster.toxiproxy import ToxiproxyClient, ToxiproxyError

NODE_VERBS = tuple(VERBS)  # kill, stop, start, restart, pause, resume
CLOCK_ACTIONS = ("skew-clock", "heal-clocks")
DISK_ACTIONS = ("slow-disk", "fail-disk", "heal-disks")
ACTIONS = (
    "partition",
    "isolate",
    "heal",
    "latency",
    "bandwidth",
    "power-cut",
    *NODE_VERBS,
    *CLOCK_ACTIONS,
    *DISK_ACTIONS,
)


class ActionError(Exception):
    """A request the page may not make, or one the cluster refused: `status` is the HTTP
    status to answer with (400: a bad request; 409: not now, another action is running or
    the node is not in a state the verb applies to; 502: the cluster or Toxiproxy failed)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Actions:
    """One action at a time: two at once (a heal racing a partition, a restart racing a
    kill) would leave the cluster in neither's state, so the second is refused."""

    def __init__(self, st: ClusterState) -> None:
        self.st = st
        self.topology = st.topology()
        self._busy = threading.Lock()

    def apply(self, request: dict[str, Any]) -> str:
        """Do what `request` asks; what was done, in a line (the page's event log)."""
        name = request.get("action")
        if name not in ACTIONS:
            raise ActionError(f"unknown action {name!r}; actions: {', '.join(ACTIONS)}")
        if not self._busy.acquire(blocking=False):
            raise ActionError("another action is running; try again when it is done", 409)
        try:
            if name in NODE_VERBS:
                return self._node(str(name), self._one_node(request))
            if name == "power-cut":
                return self._power_cut(self._one_node(request))
            if name in CLOCK_ACTIONS:
                return self._clock(str(name), request)
            if name in DISK_ACTIONS:
                return self._disk(str(name), request)
            return self._network(str(name), request)
        finally:
            self._busy.release()

    def _one_node(self, request: dict[str, Any]) -> str:
        node = request.get("node")
        if not isinstance(node, str) or node not in self.topology.node_ids:
            raise ActionError(f"unknown node {node!r}; nodes: {', '.join(self.topology.node_ids)}")
        return node

    def _target(self, request: dict[str, Any]) -> tuple[Target, str]:
        """A node (every link into it) or, with "link": [src, dst], one link; and how
        to say it."""
        link = request.get("link")
        if link is None:
            node = self._one_node(request)
            return node, f"{node}'s links"
        if not (
            isinstance(link, list) and len(link) == 2 and all(isinstance(n, str) for n in link)
        ):
            raise ActionError("link is [source, destination]: two node ids (or client, node)")
        return (link[0], link[1]), f"the link {link[0]} -> {link[1]}"

    def _nodes(self, value: Any, what: str) -> list[str]:
        if not isinstance(value, list) or not value:
            raise ActionError(f"{what}: a list of node ids")
        unknown = [n for n in value if n not in self.topology.node_ids]
        if unknown:
            raise ActionError(f"{what}: unknown node(s) {', '.join(map(str, unknown))}")
        return [str(n) for n in value]

    def _node(self, verb: str, node: str) -> str:
        try:
            return control_node(self.st, verb, node)
        except (NodeControlError, SupervisorUnreachable) as e:
            raise ActionError(str(e), 409 if isinstance(e, NodeControlError) else 502) from e
        except SupervisorError as e:  # the supervisor answered: a refusal, as above
            raise ActionError(str(e), 409) from e
        except RuntimeError as e:  # the Docker engine or compose (a compose cluster)
            raise ActionError(f"the containers' engine: {e}", 502) from e

    def _power_cut(self, node: str) -> str:
        disks = disk_controls(Path(self.st.run_dir))
        if node not in disks:
            raise ActionError(f"{node} has no lazy disk: start the cluster with --lazy-disks")
        self._node("kill", node)
        try:
            lost = disks[node].lose_unsynced()
        except DiskControlError as e:
            raise ActionError(f"{node}'s disk: {e}", 502) from e
        self._node("start", node)
        return f"power cut {node}: {lost['bytes_dropped']} un-fsynced bytes lost; serving again"

    def _clock(self, name: str, request: dict[str, Any]) -> str:
        """As `faultlab clock skew NODE +500ms x0.5` and `faultlab clock heal`."""
        clocks = node_clocks(Path(self.st.run_dir))
        if not clocks:
            raise ActionError("this cluster's nodes read the real clock: start it with --clocks")
        if name == "heal-clocks":
            for clock in clocks.values():
                clock.heal()
            return "every clock real again"
        node = self._one_node(request)
        jump_ms, rate = request.get("jump_ms", 0), request.get("rate")
        if not _number(jump_ms) or (rate is not None and not _number(rate)):
            raise ActionError("skew-clock: jump_ms and rate are numbers")
        try:
            said = clocks[node].skew(float(jump_ms) / 1000, None if rate is None else float(rate))
        except ClockError as e:
            raise ActionError(str(e)) from e
        return f"clock of {node}: {said.describe(said.anchor_real_s)}"

    def _disk(self, name: str, request: dict[str, Any]) -> str:
        """As `faultlab disk slow NODE --fsync 100ms`, `disk fail NODE`, `disk heal`."""
        disks = disk_controls(Path(self.st.run_dir))
        if not disks:
            raise ActionError("this cluster runs on plain disks: start it with --lazy-disks")
        try:
            if name == "heal-disks":
                for disk in disks.values():
                    disk.clear_faults()
                return "every disk healthy"
            node = self._one_node(request)
            if node not in disks:
                raise ActionError(f"{node} has no lazy disk (disks: {', '.join(disks)})")
            if name == "fail-disk":
                disks[node].set_faults(fsync_error=True)
                return f"every fsync on {node}'s disk fails (EIO)"
            given = request.get("fsync_ms")
            fsync_ms = float(given) if _number(given) else 0.0
            if fsync_ms <= 0:
                raise ActionError("slow-disk: fsync_ms is a number above 0")
            disks[node].set_faults(fsync_delay_ms=fsync_ms)
            return f"every fsync on {node}'s disk {fsync_ms:g} ms late"
        except DiskControlError as e:
            raise ActionError(f"the lazy disk: {e}", 502) from e

    def _network(self, name: str, request: dict[str, Any]) -> str:
        kind = self._cut_kind(request.get("kind", "blackhole"))
        client = ToxiproxyClient(self.st.toxiproxy_api)
        net = Network(client, self.topology)
        try:
            if name == "heal":
                net.heal()
                return "healed every link"
            if name == "partition":
                sides = request.get("sides")
                if not isinstance(sides, list) or len(sides) < 2:
                    raise ActionError("partition: sides is a list of two or more lists of nodes")
                groups = [self._nodes(side, "partition side") for side in sides]
                links = net.partition(groups, kind)
                return (
                    f"partitioned {' | '.join(','.join(g) for g in groups)}: {len(links)} links cut"
                )
            if name == "isolate":
                node = self._one_node(request)
                return f"isolated {node}: {len(net.isolate(node, kind))} links cut"
            target, what = self._target(request)
            amount = request.get("value")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                raise ActionError(f"{name}: value is a whole number above 0")
            if name == "latency":
                net.latency(target, amount)
                return f"answers on {what} {amount} ms late"
            net.bandwidth(target, amount)
            return f"{what} limited to {amount} KB/s"
        except (NetError, ValueError) as e:
            raise ActionError(str(e)) from e
        except ToxiproxyError as e:
            raise ActionError(f"Toxiproxy: {e}", 502) from e
        finally:
            client.close()

    @staticmethod
    def _cut_kind(value: Any) -> Cut:
        try:
            return Cut(value)
        except ValueError:
            kinds = ", ".join(c.value for c in Cut)
            raise ActionError(f"kind is one of {kinds}, not {value!r}") from None


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
