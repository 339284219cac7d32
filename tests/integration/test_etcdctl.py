"""etcdctl (Debian's etcd-client) against faultlab's KV nodes, every endpoint through its
Toxiproxy client link: what a user of etcd types, answered as etcd answers it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.pytest_plugin import make_cluster, running
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from services.runtime.topology import Group
from tests.integration.etcdctl import Etcdctl, Running, endpoints

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One cluster for the module; each test keeps to keys of its own."""
    with running(make_cluster(tmp_path_factory.mktemp("etcdctl"), (Group("kv", 3),))) as c:
        yield c


@pytest.fixture
def ctl(kv: LocalCluster) -> Etcdctl:
    return Etcdctl(",".join(endpoints(kv)))


@pytest.fixture
def each(kv: LocalCluster) -> list[Etcdctl]:
    """etcdctl on one endpoint each: followers forward to the leader."""
    return [Etcdctl(e) for e in endpoints(kv)]


@pytest.fixture
def started() -> Iterator[list[Running]]:
    """Long-running etcdctls a test starts, stopped however it ends."""
    runs: list[Running] = []
    yield runs
    for run in runs:
        run.stop()


def test_put_get_and_delete_through_every_endpoint(each: list[Etcdctl]) -> None:
    for i, ctl in enumerate(each):
        assert ctl.run("put", f"pg/{i}", f"v{i}") == "OK\n"
    for ctl in each:
        assert ctl.run("get", "--prefix", "pg/") == "pg/0\nv0\npg/1\nv1\npg/2\nv2\n"
        assert ctl.run("get", "--prefix", "pg/", "--limit=1") == "pg/0\nv0\n"
        assert ctl.run("get", "--prefix", "pg/", "--keys-only") == "pg/0\n\npg/1\n\npg/2\n\n"
    status = json.loads(each[1].run("get", "pg/0", "-w", "json"))
    created = status["kvs"][0]["create_revision"]
    each[2].run("put", "pg/0", "again")
    assert each[0].run("get", "pg/0", f"--rev={created}") == "pg/0\nv0\n"
    limited = json.loads(each[0].run("get", "--prefix", "pg/", "--limit=1", "-w", "json"))
    assert (limited["count"], limited["more"], len(limited["kvs"])) == (3, True, 1)
    assert each[1].run("del", "pg/0", "--prev-kv") == "1\npg/0\nagain\n"
    assert each[2].run("get", "pg/0") == ""
    assert each[0].run("del", "--prefix", "pg/") == "2\n"


def test_bad_requests_are_answered_in_etcds_words(ctl: Etcdctl) -> None:
    assert ctl.run("put", "", "v", check=False) == "Error: etcdserver: key is not provided\n"
    assert ctl.run("put", "--lease=1234", "bad/k", "v", check=False) == (
        "Error: etcdserver: requested lease not found\n"
    )
    assert "future revision" in ctl.run("get", "bad/k", "--rev=99999999", check=False)
    revision = json.loads(ctl.run("put", "bad/c", "1", "-w", "json"))["header"]["revision"]
    ctl.run("put", "bad/c", "2")
    assert ctl.run("compact", str(revision)) == f"compacted revision {revision}\n"
    assert ctl.run("get", "bad/c", f"--rev={revision - 1}", check=False) == (
        "Error: etcdserver: mvcc: required revision has been compacted\n"
    )


def test_a_txn_from_stdin_takes_the_branch_its_compares_pick(ctl: Etcdctl) -> None:
    ctl.run("put", "tx/flag", "on")
    script = 'value("tx/flag") = "on"\n\nput tx/a 1\nput tx/b 2\n\nput tx/c 3\n\n'
    assert ctl.run("txn", stdin=script) == "SUCCESS\n\nOK\n\nOK\n"
    assert ctl.run("txn", stdin=script.replace('= "on"', '= "off"')) == "FAILURE\n\nOK\n"
    assert ctl.run("get", "--prefix", "tx/", "--keys-only") == (
        "tx/a\n\ntx/b\n\ntx/c\n\ntx/flag\n\n"
    )
    duplicate = "\nput tx/a 1\nput tx/a 2\n\n\n"
    assert ctl.run("txn", stdin=duplicate, check=False) == (
        "Error: etcdserver: duplicate key given in txn request\n"
    )


def test_watch_replays_from_a_revision_then_follows_with_prev_kv(
    ctl: Etcdctl, each: list[Etcdctl], started: list[Running]
) -> None:
    first = json.loads(ctl.run("put", "w/a", "1", "-w", "json"))["header"]["revision"]
    ctl.run("put", "w/a", "2")
    watch = each[2].start("watch", "--prefix", "w/", f"--rev={first}", "--prev-kv")
    started.append(watch)
    watch.wait_for(["PUT", "w/a", "1", "PUT", "w/a", "1", "w/a", "2"])
    ctl.run("del", "w/a")
    ctl.run("put", "w/b", "3")
    watch.wait_for(["DELETE", "w/a", "2", "w/a", "", "PUT", "w/b", "3"])


def test_a_lease_keeps_its_keys_until_revoked_or_expired(ctl: Etcdctl, each: list[Etcdctl]) -> None:
    granted = ctl.run("lease", "grant", "30")  # "lease 694d... granted with TTL(30s)"
    lease = granted.split()[1]
    assert granted == f"lease {lease} granted with TTL(30s)\n"
    ctl.run("put", f"--lease={lease}", "ls/a", "1")
    ctl.run("put", f"--lease={lease}", "ls/b", "2")
    assert each[1].run("lease", "keep-alive", "--once", lease) == (
        f"lease {lease} keepalived with TTL(30)\n"
    )
    shown = each[2].run("lease", "timetolive", "--keys", lease)
    assert shown.startswith(f"lease {lease} granted with TTL(30s), remaining(")
    assert shown.endswith("attached keys([ls/a ls/b])\n")
    assert lease in ctl.run("lease", "list")
    assert each[1].run("lease", "revoke", lease) == f"lease {lease} revoked\n"
    assert ctl.run("get", "--prefix", "ls/") == ""
    assert ctl.run("lease", "timetolive", lease) == f"lease {lease} already expired\n"

    short = ctl.run("lease", "grant", "2").split()[1]
    ctl.run("put", f"--lease={short}", "ls/short", "1")
    wait_until(lambda: ctl.run("get", "ls/short") == "", 20, "the lease to expire")


def test_lock_lets_one_etcdctl_in_at_a_time(
    each: list[Etcdctl], started: list[Running], tmp_path: Path
) -> None:
    """Two `etcdctl lock` on different endpoints, each holding the lock while its command
    writes its start and end: the two spans never interleave."""
    log = tmp_path / "held.log"
    for name, ctl in (("A", each[0]), ("B", each[2])):
        hold = f"echo start {name} >> {log}; sleep 1; echo end {name} >> {log}"
        started.append(ctl.start("lock", "lk/mutex", "sh", "--", "-c", hold))
    wait_until(lambda: log.exists() and log.read_text().count("end") == 2, 30, "both holders")
    steps = log.read_text().split("\n")[:4]
    assert [s.split()[0] for s in steps] == ["start", "end", "start", "end"]
    assert steps[0].split()[1] == steps[1].split()[1] != steps[2].split()[1]


def test_elect_has_one_leader_and_the_next_takes_over_when_it_leaves(
    ctl: Etcdctl, each: list[Etcdctl], started: list[Running]
) -> None:
    first = each[0].start("elect", "el/e", "p1")
    started.append(first)
    observer = each[1].start("elect", "-l", "el/e")
    started.append(observer)
    observer.wait_for(["p1"])
    # The observer sees p1 lead once its key is first in line, but etcdctl cancels its own
    # campaign if stopped before it has read its key back and printed it.
    first.wait_for(["p1"])
    second = each[2].start("elect", "el/e", "p2")
    started.append(second)
    first.stop()  # etcdctl resigns on its way out
    assert first.process.returncode == 0, first.output
    observer.wait_for(["p2"])
    second.wait_for(["p2"])


def test_endpoint_status_health_and_member_list(kv: LocalCluster, ctl: Etcdctl) -> None:
    rows = json.loads(ctl.run("endpoint", "status", "-w", "json"))
    assert len(rows) == 3
    assert len({row["Status"]["leader"] for row in rows}) == 1
    assert {row["Status"]["version"] for row in rows} == {"3.5.0"}
    assert ctl.run("endpoint", "health").count("is healthy") == 3
    members = json.loads(ctl.run("member", "list", "-w", "json"))["members"]
    client_urls = sorted(url for m in members for url in m["clientURLs"])
    assert client_urls == sorted(f"http://{e}" for e in endpoints(kv))
