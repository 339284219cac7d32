"""What the chaos module needs of a running cluster, whatever runs it: `LocalCluster`
(one OS process per node) and `ComposeCluster` (one container per node) both are one.
Network faults are not here: they go through `toxiproxy`, the same on both."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from cluster.toxiproxy import ToxiproxyClient
from services.runtime.topology import Topology


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

    def leader(self, among: list[str] | None = None, group: str = "kv") -> str | None: ...

    def wait_for_leader(
        self, among: list[str] | None = None, not_: str = "", timeout_s: float = ...,
        group: str = "kv",
    ) -> str: ...  # fmt: skip

    def wait_serving(self, node_id: str, timeout_s: float | None = None) -> None: ...
