"""etcd's own Go client (go.etcd.io/etcd/client/v3) and its concurrency package against
faultlab's KV nodes: a Mutex that loses no increment, an Election that passes on when its
leader's process is killed and holds across a kill -9 of the KV leader, and serializable
STM transfers that keep the bank's total across a leader kill and a partition."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.net import Network
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


@pytest.fixture
def kv3(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of its own, for the tests that kill and cut nodes."""
    with running(make_cluster(tmp_path, (Group("kv", 3),))) as c:
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
        ctl = Etcdctl(",".join(endpoints(kv)))
        in_line = ctl.run("get", "--prefix", "go-elect/", "--sort-by=CREATE", "--print-value-only")
        assert in_line == "first\nsecond\n"  # the second waits behind it
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


def revision(kv: LocalCluster) -> int:
    status = json.loads(Etcdctl(",".join(endpoints(kv))).run("get", "x", "-w", "json"))
    return int(status["header"]["revision"])


def progressed(kv: LocalCluster, by: int) -> None:
    """Until the store has moved `by` revisions: the workload is under way."""
    start = revision(kv)
    wait_until(lambda: revision(kv) >= start + by, 60, f"{by} more revisions")


def test_stm_transfers_keep_the_total_across_a_leader_kill_and_a_partition(
    program: Path, kv3: LocalCluster
) -> None:
    where = ["-endpoints", ",".join(endpoints(kv3))]
    # Transfers go on until its stdin closes: each phase waits for progress, however slow.
    bank = Running([str(program), "bank", *where, "-workers", "4", "-transfers", "0"])
    try:
        progressed(kv3, 30)
        leader = kv3.wait_for_leader()
        kv3.kill(leader)
        kv3.wait_for_leader(not_=leader)
        kv3.start_node(leader)
        progressed(kv3, 30)
        assert kv3.toxiproxy is not None
        net = Network(kv3.toxiproxy, kv3.topology)
        cut = kv3.wait_for_leader()
        net.isolate(cut)
        try:
            kv3.wait_for_leader([n.id for n in kv3.topology.nodes if n.id != cut])
            progressed(kv3, 30)
        finally:
            net.heal()
        progressed(kv3, 30)
        assert bank.process.stdin is not None
        bank.process.stdin.close()  # stop transferring, report the balances
        bank.process.wait(RUN_S)
    finally:
        bank.stop()
    assert bank.process.returncode == 0, bank.output
    assert json.loads(bank.lines[-1]) == {"expected": 500, "total": 500, "negative": 0}


def test_an_election_holds_across_a_kill_of_the_kv_leader_until_its_leader_resigns(
    program: Path, kv3: LocalCluster
) -> None:
    """The elected candidate's session lives on through the KV leader's death (its
    keep-alives go to another member; the new leader extends every lease); the one waiting
    behind it is elected only after it resigns, and an observer sees them in that order."""
    where = ["-endpoints", ",".join(endpoints(kv3)), "-name", "go-failover"]
    first = Running([str(program), "elect", *where, "-value", "first", "-ttl", "3"])
    observer = second = None
    try:
        first.wait_for(['{"elected": "first", "leader": "first"}'])
        observer = Running([str(program), "observe", *where])
        observer.wait_for(['{"leader": "first"}'])
        # The waiting candidate dials the other members only: a write of its campaign in
        # flight on the member killed below would end in EOF (Unavailable), which
        # clientv3 does not retry for a Txn, with a real etcd as here. Its keep-alives and
        # its watch then ride out the kill through the forwarding of the other members.
        leader = kv3.wait_for_leader()
        others = [kv3.topology.client_address(n) for n in ("kv1", "kv2", "kv3") if n != leader]
        waiting = ["-endpoints", ",".join(others), "-name", "go-failover"]
        second = Running([str(program), "elect", *waiting, "-value", "second", "-ttl", "3"])
        ctl = Etcdctl(",".join(endpoints(kv3)))

        def candidates() -> int:
            return len(
                json.loads(ctl.run("get", "--prefix", "go-failover/", "-w", "json")).get("kvs", [])
            )

        wait_until(lambda: candidates() == 2 or None, 20, "the second candidate's key")
        kv3.kill(leader)
        kv3.wait_for_leader(not_=leader)
        kv3.start_node(leader)
        keys = json.loads(ctl.run("get", "--prefix", "go-failover/", "-w", "json"))["kvs"]
        first_lease = format(int(keys[0]["lease"]), "x")  # the oldest key: the leader's
        assert "remaining(" in ctl.run("lease", "timetolive", first_lease)
        # (An observer may say the same leader again when its watch is re-established.)
        assert second.lines == [] and set(observer.lines) == {'{"leader": "first"}'}
        assert first.process.stdin is not None
        first.process.stdin.close()  # resign
        second.wait_for(['{"elected": "second", "leader": "second"}'])
        observer.wait_for(['{"leader": "first"}', '{"leader": "second"}'])
        first.wait_for(['{"resigned":"first"}'])
    finally:
        for run in (first, second, observer):
            if run is not None:
                run.stop()
