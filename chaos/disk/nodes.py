"""Lazy disks under a cluster's nodes, and the power cut.

    with NodeDisks(run_dir, ["kv1", "kv2", "kv3"]) as disks, LocalCluster(topo, run_dir) as c:
        power_cut(c, ["kv1", "kv2", "kv3"])     # kill -9, drop what was not fsynced, restart

Mount before the cluster starts and unmount after it has stopped (a node holds its files
open). Anything that knows the run folder finds the disks again (chaos/disk/finding.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from chaos.disk.finding import disk_control, disk_state_dir
from chaos.disk.mounts import LazyDisk
from cluster import processes
from cluster.backend import Cluster
from cluster.launcher import node_data_dir


class NodeDisks:
    def __init__(self, run_dir: Path, node_ids: Iterable[str]) -> None:
        self._spawner = processes.Spawner()
        self.disks = {
            n: LazyDisk(node_data_dir(run_dir, n), disk_state_dir(run_dir, n), self._spawner)
            for n in node_ids
        }

    def mount(self) -> None:
        """Mount every disk; if one fails, unmount those already mounted."""
        try:
            for disk in self.disks.values():
                disk.mount()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> NodeDisks:
        self.mount()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Unmount every disk; the first failure is raised once all were tried."""
        errors = []
        for disk in self.disks.values():
            try:
                disk.unmount()
            except Exception as e:  # keep unmounting the others
                errors.append(e)
        self._spawner.close()
        if errors:
            raise errors[0]


def power_cut(
    cluster: Cluster, node_ids: list[str], torn_seed: int | None = None, restart: bool = True
) -> dict[str, dict[str, Any]]:
    """kill -9 every node of `node_ids` (all of them before any disk loses anything, as
    one power failure would), drop what their disks had not made durable, and start them
    again. `torn_seed`: each file keeps a random part of its un-fsynced tail, some of it
    zeros (see FileUndo.restore_plan), seeded per node. Returns each disk's loss report."""
    for node in node_ids:
        cluster.kill(node)  # also reaps a node that had already stopped on its own
    reports = {}
    for i, node in enumerate(node_ids):
        seed = None if torn_seed is None else torn_seed * 1000 + i
        reports[node] = disk_control(cluster.run_dir, node).lose_unsynced(seed)
    if restart:
        for node in node_ids:
            cluster.start_node(node, wait=False)
        for node in node_ids:
            cluster.wait_serving(node)
    return reports
