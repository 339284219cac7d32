"""The same etcdctl session against a real etcd (Debian's etcd-server) and against faultlab's
KV nodes, each fresh: what etcdctl prints must be the same, byte for byte, revisions and
error texts included. Only what etcd itself leaves open differs (cluster and member ids,
lease ids), and those are not printed by these commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.pytest_plugin import make_cluster, running
from cluster.etcd_peer import etcd_cluster
from services.runtime.topology import Group
from tests.integration.etcdctl import Etcdctl, endpoints, tool

pytestmark = pytest.mark.integration

# Each step: etcdctl's arguments, and its stdin for a txn.
SESSION: list[tuple[tuple[str, ...], str]] = [
    (("put", "a", "1"), ""),
    (("put", "b", "2"), ""),
    (("put", "a", "3"), ""),
    (("put", "c/x", "4"), ""),
    (("put", "c/y", "5"), ""),
    (("get", "a"), ""),
    (("get", "a", "--rev=2"), ""),
    (("get", "--prefix", "c/"), ""),
    (("get", "--prefix", "c/", "--limit=1"), ""),
    (("get", "--from-key", "b"), ""),
    (("get", "a", "c", "--keys-only"), ""),  # [a, c): a range
    (("get", "--prefix", "", "--sort-by=MODIFY", "--order=DESCEND"), ""),
    (("get", "--prefix", "", "--sort-by=VERSION", "--order=ASCEND", "--print-value-only"), ""),
    (("del", "a", "--prev-kv"), ""),
    (("get", "a"), ""),
    (("del", "nothing"), ""),
    (("del", "--prefix", "c/"), ""),
    (("txn",), 'value("b") = "2"\n\nput b 20\nput d 1\n\nput e 1\n\n'),
    (("txn",), 'version("b") = "1"\n\nput f 1\n\nget b\n\n'),
    (("txn",), 'create("zz") = "0"\nmod("b") > "3"\n\ndel b\n\n\n'),
    (("get", "--prefix", ""), ""),
    (("get", "b", "--rev=3"), ""),
    (("compact", "5"), ""),
    (("get", "a", "--rev=4"), ""),
    (("get", "a", "--rev=5"), ""),
    (("get", "a", "--rev=999"), ""),
    (("compact", "3"), ""),
    (("put", "", "x"), ""),
    (("put", "g", "1", "--lease=1234"), ""),
    (("txn",), "\nput h 1\nput h 2\n\n\n"),
    (("put", "--ignore-value", "nope"), ""),
    (("put", "b", "--ignore-value"), ""),
]


def transcript(ctl: Etcdctl) -> list[str]:
    lines = []
    for args, stdin in SESSION:
        out = ctl.run(*args, stdin=stdin, check=False)
        lines.append(f"$ etcdctl {' '.join(args)}\n{out}")
    return lines


@pytest.fixture
def real_etcd(tmp_path: Path) -> Iterator[Etcdctl]:
    tool("etcd")
    with etcd_cluster(tmp_path / "etcd", members=1) as etcd:
        yield Etcdctl(etcd.endpoints)


@pytest.fixture
def faultlab_kv(tmp_path: Path) -> Iterator[Etcdctl]:
    with running(make_cluster(tmp_path / "faultlab", (Group("kv", 3),))) as cluster:
        yield Etcdctl(",".join(endpoints(cluster)))


def test_etcdctl_prints_the_same_against_etcd_and_faultlab(
    real_etcd: Etcdctl, faultlab_kv: Etcdctl
) -> None:
    theirs, ours = transcript(real_etcd), transcript(faultlab_kv)
    for expected, got in zip(theirs, ours, strict=True):
        assert got == expected
