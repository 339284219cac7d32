"""etcd's auto-compaction settings on real KV nodes: in periodic mode the leader compacts
what is older than the retention; in revision mode every replica keeps the last N."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.pytest_plugin import make_cluster, running
from cluster.waiting import wait_until
from services.kv.compaction import MODE_ENV, RETENTION_ENV
from services.runtime.topology import Group
from tests.integration.etcdctl import Etcdctl, endpoints

pytestmark = pytest.mark.integration
COMPACTED = "Error: etcdserver: mvcc: required revision has been compacted\n"


def cluster_with(tmp_path: Path, mode: str, retention: str) -> Iterator[Etcdctl]:
    env = {MODE_ENV: mode, RETENTION_ENV: retention}
    with running(make_cluster(tmp_path, (Group("kv", 3),), node_env=env)) as cluster:
        yield Etcdctl(",".join(endpoints(cluster)))


@pytest.fixture
def periodic(tmp_path: Path) -> Iterator[Etcdctl]:
    yield from cluster_with(tmp_path, "periodic", "2s")


@pytest.fixture
def by_revision(tmp_path: Path) -> Iterator[Etcdctl]:
    yield from cluster_with(tmp_path, "revision", "10")


def test_periodic_mode_compacts_what_is_older_than_the_retention(periodic: Etcdctl) -> None:
    first = json.loads(periodic.run("put", "p", "1", "-w", "json"))["header"]["revision"]
    assert periodic.run("get", "p", f"--rev={first}") == "p\n1\n"  # kept for now

    def compacted() -> bool:
        periodic.run("put", "p", "again")  # the leader notes a newer revision each time
        return periodic.run("get", "p", f"--rev={first}", check=False) == COMPACTED

    wait_until(compacted, 30, "the leader to compact the first revision")


def test_revision_mode_keeps_the_last_revisions(by_revision: Etcdctl) -> None:
    first = json.loads(by_revision.run("put", "r", "0", "-w", "json"))["header"]["revision"]
    for i in range(1, 25):
        by_revision.run("put", "r", str(i))
    assert by_revision.run("get", "r", f"--rev={first}", check=False) == COMPACTED
    assert by_revision.run("get", "r", f"--rev={first + 20}") == "r\n20\n"
