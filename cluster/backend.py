"""What the chaos module needs of a running cluster, whatever runs it: `LocalCluster`
(one OS process per node) and `ComposeCluster` (one container per node) both are one.
Network faults are not here: they go through `toxiproxy`, the same on both."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cluster import admin_client
from cluster.waiting import wait_until
from services.runtime.topology import Topology

if TYPE_CHECKING:  # only named: `faultlab status` need not load an HTTP client
    from cluster.toxiproxy import ToxiproxyClient


class Run(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # SIGSTOP, or the cgroup freezer of `docker pause`
    STOPPED = "stopped"  # stopped, killed, or exited on its own


@dataclass(frozen=True)
class ProcessState:
    """A node's process as its backend sees it (not whether it answers: a running node
    may still be starting, or cut off by a network fault)."""

    run: Run
    exit_code: int | None = None  # when STOPPED and known

    def __str__(self) -> str:
        if self.run is Run.STOPPED and self.exit_code is not None:
            return f"stopped (exit {self.exit_code})"
        return str(self.run)


class Cluster(Protocol):
    topology: Topology
    run_dir: Path  # logs, data, lazy disks (the process backend's)
    toxiproxy: ToxiproxyClient | None

    @property
    def topology_path(self) -> Path: ...  # the topology as a file, for client processes

    def kill(self, node_id: str) -> int: ...  # SIGKILL; its exit code

    def stop(self, node_id: str, grace_s: float = ...) -> int: ...  # SIGTERM, then SIGKILL

    def start_node(self, node_id: str, wait: bool = True) -> None: ...

    def restart(self, node_id: str, hard: bool = False) -> None: ...

    def pause(self, node_id: str) -> None: ...  # frozen mid-flight, as in a GC pause

    def resume(self, node_id: str) -> None: ...

    def is_running(self, node_id: str) -> bool: ...

    def process_state(self, node_id: str) -> ProcessState: ...

    def leader(self, among: list[str] | None = None, group: str = "kv") -> str | None: ...

    def wait_for_leader(
        self,
        among: list[str] | None = None,
        not_: str = "",
        timeout_s: float = ...,
        group: str = "kv",
    ) -> str: ...

    def wait_serving(self, node_id: str, timeout_s: float | None = None) -> None: ...


class DerivedControls(abc.ABC):
    """What every backend builds the same way from its own primitives (kill, stop,
    start_node, is_running): restart, and leader finding, which asks the running nodes'
    admin services (by their listen ports, never through Toxiproxy) whom a majority
    follows."""

    topology: Topology

    @abc.abstractmethod
    def is_running(self, node_id: str) -> bool:
        """The backend's own primitive."""

    @abc.abstractmethod
    def kill(self, node_id: str) -> int:
        """The backend's own primitive."""

    @abc.abstractmethod
    def stop(self, node_id: str, grace_s: float = 5.0) -> int:
        """The backend's own primitive."""

    @abc.abstractmethod
    def start_node(self, node_id: str, wait: bool = True) -> None:
        """The backend's own primitive."""

    def restart(self, node_id: str, hard: bool = False) -> None:
        """Stop (or kill -9 when `hard`) and start again, waiting for SERVING."""
        if hard:
            self.kill(node_id)
        else:
            self.stop(node_id)
        self.start_node(node_id)

    def leader(self, among: list[str] | None = None, group: str = "kv") -> str | None:
        """The leader of Raft group `group` that a majority follows, among `among`
        (default: every running node; those not hosting the group are not counted)."""
        ids = among or [n.id for n in self.topology.nodes if self.is_running(n.id)]
        return admin_client.leader_of(self.topology, ids, group) if ids else None

    def wait_for_leader(
        self,
        among: list[str] | None = None,
        not_: str = "",
        timeout_s: float = 15.0,
        group: str = "kv",
    ) -> str:
        """Poll until a leader of `group` (other than `not_`) that a majority follows exists."""

        def found() -> str | None:
            lead = self.leader(among, group)
            return lead if lead and lead != not_ else None

        return wait_until(
            found, timeout_s, f"a leader of {group} a majority follows", interval_s=0.1
        )
