"""Shared fixtures: real clusters on free ports that leave nothing behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.launcher import LocalCluster
from services.runtime.topology import Group, Topology


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def assert_all_gone(pids: list[int]) -> None:
    alive = [pid for pid in pids if pid_alive(pid)]
    assert not alive, f"processes left running after the cluster closed: {alive}"


def make_cluster(tmp_path: Path, groups: tuple[Group, ...], **kwargs: object) -> LocalCluster:
    topology = Topology.build("127.0.0.1", 0, groups)  # 0: a free block of ports
    return LocalCluster(topology, tmp_path / "run", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def cluster3(tmp_path: Path) -> Iterator[LocalCluster]:
    """A fresh 3-node group (kv1..kv3) behind a real Toxiproxy; closed and checked after."""
    cluster = make_cluster(tmp_path, (Group("kv", 3),))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()
        assert_all_gone(cluster.spawned_pids)


@pytest.fixture(scope="session", autouse=True)
def _no_stray_children() -> Iterator[None]:
    """After the whole session, no child of this pytest process may still be running."""
    yield
    me = os.getpid()
    strays = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().split(")")[-1].split()
            except OSError:
                continue
            if int(stat[1]) == me and stat[0] != "Z":
                strays.append(int(entry.name))
    assert not strays, f"the test session left child processes running: {strays}"
