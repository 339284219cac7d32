"""etcd's own Go client (go.etcd.io/etcd/client/v3) and its concurrency package against
faultlab's KV nodes: a Mutex that loses no increment, an Election that passes on when its
leader's process is killed, and serializable STM transfers that keep the bank's total."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.pytest_plugin import make_cluster, running
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from services.runtime.topology import Group
from tests.integration.etcdctl import Etcdctl, Running, endpoints
from tests.integration.go_clients import go_program

pytestmark = pytest.mark.integration
RUN_S = 120.0


@pytest.fixture(scope="module")
def kv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path_factory.mktemp("goclient"), (Group("kv", 3),))) as c:
        yield c


@pytest.fixture(scope="module")
def program() -> Path:
    return go_program("etcdclient")


def run(program: Path, kv: LocalCluster, *args: str) -> dict[str, int]:
    done = subprocess.run(
        [str(program), *args, "-endpoints", ",".join(endpoints(kv))],
        capture_output=True,
        text=True,
        timeout=RUN_S,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_mutex_loses_no_increment(program: Path, kv: LocalCluster) -> None:
    result = run(program, kv, "mutex", "-workers", "3", "-rounds", "15")
    assert result == {"expected": 45, "counter": 45}


def test_stm_transfers_keep_the_total(program: Path, kv: LocalCluster) -> None:
    result = run(program, kv, "bank", "-accounts", "5", "-workers", "4", "-transfers", "30")
    assert result == {"expected": 500, "total": 500, "negative": 0}


def test_an_election_passes_on_when_its_leaders_process_is_killed(
    program: Path, kv: LocalCluster
) -> None:
    """The leader's process dies with kill -9: nobody resigns, its session's lease expires
    after its TTL (2 s) and the waiting candidate is elected."""
    argv = [str(program), "elect", "-endpoints", ",".join(endpoints(kv)), "-ttl", "2"]
    first = Running([*argv, "-name", "go-elect", "-value", "first"])
    second = None
    try:
        first.wait_for(['{"elected": "first", "leader": "first"}'])
        second = Running([*argv, "-name", "go-elect", "-value", "second"])
        wait_until(
            lambda: (
                Etcdctl(",".join(endpoints(kv)))
                .run("get", "--prefix", "go-elect/", "--keys-only")
                .count("go-elect/")
                == 2
            ),
            10,
            "the second candidate to queue",
        )
        leader = Etcdctl(",".join(endpoints(kv))).run("get", "--prefix", "go-elect/")
        assert leader.endswith("first\n")  # the second waits behind it
        first.process.kill()
        second.wait_for(['{"elected": "second", "leader": "second"}'])
    finally:
        first.stop()
        if second is not None:
            second.stop()
    wait_until(
        lambda: Etcdctl(",".join(endpoints(kv))).run("get", "--prefix", "go-elect/") == "",
        10,
        "the second's resignation",
    )
