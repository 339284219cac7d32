"""SIGTERM of a leader under a steady write load: it hands leadership to a caught-up
follower first, so no write is left with an unknown outcome and the writers' gap stays
below one election timeout (what a crash would cost them at the least)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.restart import stop_under_load
from cluster.launcher import LocalCluster
from services.raft.node import NodeOptions
from services.runtime.topology import Group
from tests.conftest import assert_all_gone, make_cluster

pytestmark = pytest.mark.integration

ELECTION_TIMEOUT_S = NodeOptions().election_ticks * NodeOptions().tick_ms / 1000


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = make_cluster(tmp_path, (Group("kv", 3),))
    cluster.start()
    try:
        cluster.wait_for_leader()
        yield cluster
    finally:
        cluster.close()
        assert_all_gone(cluster.spawned_pids)


async def test_sigterm_of_the_leader_hands_over_without_a_gap(kv: LocalCluster) -> None:
    leader = kv.wait_for_leader()
    run = await stop_under_load(kv, [leader], restart=False)
    unknown = [e for e in run.history.client_events() if e.type == "info"]
    assert not unknown, f"writes with an unknown outcome: {unknown[:5]}"
    assert run.acknowledged > 100
    assert run.write_gap_s < ELECTION_TIMEOUT_S, (
        f"writes stalled {run.write_gap_s:.3f}s; an election timeout is {ELECTION_TIMEOUT_S}s"
    )
    assert kv.wait_for_leader() != leader
