"""faultlab's pytest plugin: real local clusters as fixtures, for your own tests.

Installed with faultlab (entry point `pytest11`), so any test suite in an environment
with faultlab installed gets these fixtures:

    faultlab_topology   the cluster to run; override it in your conftest to change groups
                        or sizes (default: 3 kv nodes on free ports)
    faultlab_node_env   environment for every node process (FAULTLAB_FSYNC, ...); override
    faultlab_tls        False; override to True for mutual TLS on every connection (a CA
                        of the cluster's own; the fixtures' clients present its certificate)
    faultlab_lazy_disks False; override to True to run every node's data on a lazy disk
    faultlab_disks      with lazy disks: `.control(node).set_faults(fsync_delay_ms=200)`,
                        `.clear_faults()`, and `.power_cut(nodes)` (kill -9, lose what was
                        not fsynced, start again; returns what each disk lost)
    faultlab_fake_clocks False; override to True to run every node on a clock of its own
                        (libfaketime) that faultlab_clocks can skew
    faultlab_clocks     with fake clocks: `.skew(node, jump_s=0.5)` (a jump; negative: back),
                        `.skew(node, rate=5)` (runs 5 times as fast), `.heal()`; every
                        clock real again after the test
    faultlab_cluster    a started `LocalCluster` (Toxiproxy plus one process per node) with
                        a KV leader elected; `.kill(node)`, `.pause`, `.resume`, `.stop`,
                        `.restart(node, hard=True)`, `.leader()`; closed afterwards, and the
                        test fails if any process it started is still alive
    faultlab_net        a `chaos.net.Network` on that cluster: `.partition([a], [b, c])`,
                        `.isolate(node)`, `.latency(("kv1", "kv2"), 200)`, `.heal()`
    faultlab_kv         an async `KvClient` on the cluster (needs pytest-asyncio)
    faultlab_lock       an async `LockClient` (the topology needs a lock group)
    faultlab_log        an async `LogClient` (the topology needs a log group)
    faultlab_gateway_key  "demo-key", the default gateway configuration's API key
    faultlab_gateway_kv an async `KvClient` through the gateway group, with that key
                        (the topology needs kv and gateway groups)

docs/pytest-plugin.md shows a whole test of a user's own code with them.

    async def test_writes_survive_a_partition(faultlab_cluster, faultlab_net, faultlab_kv):
        leader = faultlab_cluster.leader()
        faultlab_net.isolate(leader)
        await faultlab_kv.put("k", b"v")   # the majority elects a new leader and applies it
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    import pytest_asyncio
except ImportError:  # faultlab_kv needs it; every other fixture works without
    pytest_asyncio = None  # type: ignore[assignment]

from chaos.disk.control import DiskControl
from chaos.disk.finding import disk_control
from chaos.disk.mounts import mounted_disks
from chaos.disk.nodes import NodeDisks, power_cut
from chaos.net import Network
from cluster.client import KvClient, LockClient, LogClient
from cluster.clocks import ClockState
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


def make_cluster(tmp_path: Path, groups: tuple[Group, ...], **kwargs: Any) -> LocalCluster:
    """A cluster (not yet started) of `groups` on a free block of ports, run in tmp_path."""
    topology = Topology.build("127.0.0.1", 0, groups)  # 0: a free block of ports
    return LocalCluster(topology, tmp_path / "run", **kwargs)


@contextlib.contextmanager
def running(cluster: LocalCluster, lazy_disks: bool = False) -> Iterator[LocalCluster]:
    """Start `cluster`, wait for a KV leader if it runs KV, and on the way out close it
    and fail if any process it started is still alive. `lazy_disks`: every node's data
    directory on a lazy disk (chaos.disk), for power cuts and disk faults; unmounted
    after the cluster closes, and the test fails if a mount is left."""
    with contextlib.ExitStack() as stack:
        if lazy_disks:
            stack.enter_context(NodeDisks(cluster.run_dir, cluster.topology.node_ids))
        cluster.start()
        try:
            if any(g.name == "kv" for g in cluster.topology.groups):
                cluster.wait_for_leader()
            yield cluster
        finally:
            cluster.close()
            assert_all_gone(cluster.spawned_pids)
    if lazy_disks:
        assert_no_mounts_under(cluster.run_dir)


def assert_no_mounts_under(folder: Path) -> None:
    left = [m for m in mounted_disks() if m.is_relative_to(folder.resolve())]
    assert not left, f"lazy disks left mounted: {left}"


@pytest.fixture
def faultlab_topology() -> Topology:
    return Topology.build("127.0.0.1", 0, (Group("kv", 3),))


@pytest.fixture
def faultlab_node_env() -> dict[str, str]:
    return {}


@pytest.fixture
def faultlab_tls() -> bool:
    return False


@pytest.fixture
def faultlab_lazy_disks() -> bool:
    return False


@pytest.fixture
def faultlab_fake_clocks() -> bool:
    return False


@pytest.fixture
def faultlab_cluster(
    faultlab_topology: Topology,
    faultlab_node_env: dict[str, str],
    faultlab_tls: bool,
    faultlab_lazy_disks: bool,
    faultlab_fake_clocks: bool,
    tmp_path: Path,
) -> Iterator[LocalCluster]:
    cluster = LocalCluster(
        faultlab_topology,
        tmp_path / "run",
        node_env=faultlab_node_env,
        tls=faultlab_tls,
        fake_clocks=faultlab_fake_clocks,
    )
    with running(cluster, lazy_disks=faultlab_lazy_disks):
        yield cluster


@dataclass(frozen=True)
class Disks:
    """The lazy disks under a test's cluster."""

    cluster: LocalCluster

    def control(self, node_id: str) -> DiskControl:
        """One node's disk: `.set_faults(fsync_delay_ms=..., write_delay_ms=...,
        fsync_error=True, write_error=True)`, `.clear_faults()`, `.status()`."""
        return disk_control(self.cluster.run_dir, node_id)

    def power_cut(self, node_ids: list[str], torn_seed: int | None = None) -> dict[str, Any]:
        """kill -9 the nodes, drop what their disks had not made durable, start them again;
        each disk's report of what it lost."""
        return power_cut(self.cluster, node_ids, torn_seed)


@pytest.fixture
def faultlab_disks(faultlab_cluster: LocalCluster, faultlab_lazy_disks: bool) -> Disks:
    if not faultlab_lazy_disks:
        pytest.fail(
            "faultlab_disks needs the nodes on lazy disks: override faultlab_lazy_disks to "
            "return True",
            pytrace=False,
        )
    return Disks(faultlab_cluster)


@dataclass(frozen=True)
class Clocks:
    """The nodes' clocks under a test's cluster (docs/clocks.md)."""

    cluster: LocalCluster

    def skew(self, node_id: str, jump_s: float = 0.0, rate: float | None = None) -> ClockState:
        """Step `node_id`'s clock by `jump_s` (negative: back) and/or run it `rate` times
        as fast from now on; its process's wall and monotonic clocks both follow."""
        return self.cluster.clock(node_id).skew(jump_s, rate)

    def heal(self) -> None:
        """Real time again on every node."""
        for node in self.cluster.topology.nodes:
            self.cluster.clock(node.id).heal()


@pytest.fixture
def faultlab_clocks(faultlab_cluster: LocalCluster, faultlab_fake_clocks: bool) -> Iterator[Clocks]:
    if not faultlab_fake_clocks:
        pytest.fail(
            "faultlab_clocks needs the nodes on fake clocks: override faultlab_fake_clocks "
            "to return True (needs Debian's libfaketime: make setup installs it)",
            pytrace=False,
        )
    clocks = Clocks(faultlab_cluster)
    try:
        yield clocks
    finally:
        clocks.heal()


@pytest.fixture
def faultlab_net(faultlab_cluster: LocalCluster) -> Iterator[Network]:
    assert faultlab_cluster.toxiproxy is not None
    net = Network(faultlab_cluster.toxiproxy, faultlab_cluster.topology)
    try:
        yield net
    finally:
        if faultlab_cluster.toxiproxy is not None:
            net.heal()


def needs_group(cluster: LocalCluster, group: str, fixture: str) -> None:
    """Fail the test at once, saying how to fix it, when the topology lacks `group`."""
    if not any(g.name == group for g in cluster.topology.groups):
        have = ", ".join(g.name for g in cluster.topology.groups)
        pytest.fail(
            f"{fixture} needs a {group!r} group; this topology has {have}: override "
            f"faultlab_topology, e.g. Topology.build('127.0.0.1', 0, (Group('kv', 3), "
            f"Group({group!r}, 3)))",
            pytrace=False,
        )


@pytest.fixture
def faultlab_gateway_key() -> str:
    return "demo-key"


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def faultlab_kv(faultlab_cluster: LocalCluster) -> AsyncIterator[KvClient]:
        async with KvClient.for_topology(faultlab_cluster.topology) as client:
            yield client

    @pytest_asyncio.fixture
    async def faultlab_lock(faultlab_cluster: LocalCluster) -> AsyncIterator[LockClient]:
        needs_group(faultlab_cluster, "lock", "faultlab_lock")
        faultlab_cluster.wait_for_leader(group="lock")
        async with LockClient.for_topology(faultlab_cluster.topology) as client:
            yield client

    @pytest_asyncio.fixture
    async def faultlab_log(faultlab_cluster: LocalCluster) -> AsyncIterator[LogClient]:
        needs_group(faultlab_cluster, "log", "faultlab_log")
        faultlab_cluster.wait_for_leader(group="log/meta")
        async with LogClient.for_topology(faultlab_cluster.topology) as client:
            yield client

    @pytest_asyncio.fixture
    async def faultlab_gateway_kv(
        faultlab_cluster: LocalCluster, faultlab_gateway_key: str
    ) -> AsyncIterator[KvClient]:
        needs_group(faultlab_cluster, "gateway", "faultlab_gateway_kv")
        async with KvClient.for_gateway(faultlab_cluster.topology, faultlab_gateway_key) as kv:
            yield kv
