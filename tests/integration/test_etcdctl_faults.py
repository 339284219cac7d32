"""etcdctl against a cut-off member: what an etcd user sees when faultlab breaks the
cluster. A serializable read answers from the member's own copy, stale; a linearizable
read and a write cannot reach a quorum and fail with etcd's words; once healed, the member
catches up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.net import Network
from chaos.pytest_plugin import make_cluster, running
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from services.runtime.topology import Group
from tests.integration.etcdctl import Etcdctl

pytestmark = pytest.mark.integration
# What etcd answers when a request cannot reach a quorum in time, as etcdctl prints it.
UNREACHABLE = (
    "Error: etcdserver: request timed out\n",
    "Error: etcdserver: no leader\n",
    "Error: context deadline exceeded\n",  # etcdctl's own 5 s command timeout
)


@pytest.fixture
def kv3(tmp_path: Path) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path, (Group("kv", 3),))) as cluster:
        yield cluster


def test_a_cut_off_member_serves_stale_serializable_reads_and_refuses_the_rest(
    kv3: LocalCluster,
) -> None:
    topology = kv3.topology
    leader = kv3.wait_for_leader()
    cut = next(n.id for n in topology.nodes if n.id != leader)
    others = Etcdctl(",".join(topology.client_address(n.id) for n in topology.nodes if n.id != cut))
    alone = Etcdctl(topology.client_address(cut))
    others.run("put", "fact", "old")
    wait_until(lambda: alone.run("get", "fact", "--consistency=s") == "fact\nold\n", 10, "copy")

    assert kv3.toxiproxy is not None
    net = Network(kv3.toxiproxy, topology)
    net.isolate(cut)  # from its peers; clients still reach it
    try:
        others.run("put", "fact", "new")  # the majority goes on
        assert alone.run("get", "fact", "--consistency=s") == "fact\nold\n"  # stale
        assert alone.run("get", "fact", "--command-timeout=8s", check=False) in UNREACHABLE
        assert alone.run("put", "x", "1", "--command-timeout=8s", check=False) in UNREACHABLE
    finally:
        net.heal()
    wait_until(lambda: alone.run("get", "fact", "--consistency=s") == "fact\nnew\n", 20, "catch-up")
    assert alone.run("get", "fact") == "fact\nnew\n"
