"""SIGTERM of a leader under a steady write load: it hands leadership to a caught-up
follower first, so no write is left with an unknown outcome and the writers' gap stays
below one election timeout (what a crash would cost them at the least)."""

from __future__ import annotations

import pytest

from chaos.restart import stop_under_load
from cluster.launcher import LocalCluster
from services.raft.node import NodeOptions

pytestmark = pytest.mark.integration

ELECTION_TIMEOUT_S = NodeOptions().election_ticks * NodeOptions().tick_ms / 1000


async def test_sigterm_of_the_leader_hands_over_without_a_gap(
    faultlab_cluster: LocalCluster,
) -> None:
    leader = faultlab_cluster.wait_for_leader()
    run = await stop_under_load(faultlab_cluster, [leader], restart=False)
    unknown = [e for e in run.history.client_events() if e.type == "info"]
    assert not unknown, f"writes with an unknown outcome: {unknown[:5]}"
    assert run.acknowledged > 100
    assert run.write_gap_s < ELECTION_TIMEOUT_S, (
        f"writes stalled {run.write_gap_s:.3f}s; an election timeout is {ELECTION_TIMEOUT_S}s"
    )
    assert faultlab_cluster.wait_for_leader() != leader
