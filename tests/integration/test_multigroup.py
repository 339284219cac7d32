"""One process hosting several Raft groups, over one transport and one ticker: each group
elects on its own, and a dead process costs each group it led one election, no more."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.pytest_plugin import make_cluster, running
from cluster import admin_client
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from services.runtime.topology import Group
from tests.integration.multigroup_node import GROUPS

pytestmark = pytest.mark.integration


@pytest.fixture
def multi(tmp_path: Path) -> Iterator[LocalCluster]:
    modules = {"kv": "tests.integration.multigroup_node"}
    with running(make_cluster(tmp_path, (Group("kv", 3),), modules=modules)) as cluster:
        yield cluster


def leaders(cluster: LocalCluster) -> dict[str, tuple[str, int]] | None:
    """Raft group -> (leader, term), once every group has a leader a majority follows."""
    out = {}
    for group in GROUPS:
        leader = cluster.leader(group=group)
        if leader is None:
            return None
        view = admin_client.group_view(
            admin_client.fetch_status(cluster.topology.listen_address(leader)), group
        )
        assert view is not None
        out[group] = (leader, view.term)
    return out


def test_each_group_elects_and_a_killed_host_moves_only_what_it_led(multi: LocalCluster) -> None:
    before = wait_until(lambda: leaders(multi), 20.0, "a leader in every group")
    status = admin_client.fetch_status(multi.topology.listen_address("kv1"))
    assert {g.group for g in status.groups} == set(GROUPS)

    by_node: dict[str, list[str]] = {}
    for group, (leader, _) in before.items():
        by_node.setdefault(leader, []).append(group)
    victim = max(by_node, key=lambda n: len(by_node[n]))
    multi.kill(victim)

    def moved() -> dict[str, tuple[str, int]] | None:
        now = leaders(multi)
        if now is None or any(now[g][0] == victim for g in by_node[victim]):
            return None
        return now

    after = wait_until(moved, 20.0, f"new leaders for the groups {victim} led")
    for group in GROUPS:
        if group in by_node[victim]:
            assert after[group][0] != victim and after[group][1] > before[group][1]
        else:  # led elsewhere: a quorum remained, so no election happened
            assert after[group] == before[group], group
