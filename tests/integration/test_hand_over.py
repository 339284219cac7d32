"""SIGTERM of a leader under a steady write load: it hands leadership to a caught-up
follower first, then serves as a lame duck, answering every client with NOT_LEADER naming
the new leader until its clients fall quiet, so no write is left with an unknown outcome
and the writers' gap stays below one election timeout (what a crash would cost them at
the least)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2

from chaos.restart import stop_under_load
from cluster.client import errors
from cluster.launcher import LocalCluster
from services.raft.node import NodeOptions
from services.runtime.server import QUIET_S
from tests.integration.kvcheck import direct_stub

pytestmark = pytest.mark.integration

# A client that pauses half the quiet window between calls is still a client: the lame
# duck must answer it again after the pause, not stop in between.
PACE_S = QUIET_S / 2
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


async def test_a_leader_that_handed_over_redirects_before_its_transport_closes(
    faultlab_cluster: LocalCluster,
) -> None:
    """A client that keeps calling the stopping leader (and never follows a redirect) sees
    its writes applied, then definite NOT_LEADER answers naming the new leader, and only
    then the closed transport. The lame duck outlasts the pauses between its calls, so a
    client that does follow is redirected, never cut off."""
    leader = faultlab_cluster.wait_for_leader()
    channel, stub = direct_stub(faultlab_cluster, leader)
    answers: list[str] = []
    hints: set[str] = set()
    async with channel:
        stopping = asyncio.ensure_future(asyncio.to_thread(faultlab_cluster.stop, leader))
        while not stopping.done():
            try:
                await stub.Put(kv_pb2.PutRequest(key="k", value=b"v"), timeout=2)
                answers.append("ok")
            except grpc.aio.AioRpcError as e:
                reason = errors.reason_of(e)
                answers.append(errors.Reason.Name(reason) if reason else e.code().name)
                hints.add(errors.leader_hint(e))
                if not reason:  # the server has stopped
                    break
            await asyncio.sleep(PACE_S)
        assert await stopping == 0
    redirected = [a for a in answers if a == "NOT_LEADER"]
    assert len(redirected) >= 2, f"the lame duck did not outlast one pause: {answers[-10:]}"
    first = answers.index("NOT_LEADER")
    assert set(answers[:first]) <= {"ok", "NOT_APPLIED"}, answers[:first]
    after = answers[first:]
    # The last call met the closed transport: refused (UNAVAILABLE), or, when it was in
    # flight as the server stopped, cancelled by the server's stop (CANCELLED): a busy
    # machine makes the second likelier, and either says the server is gone.
    gone = ("NOT_LEADER", "UNAVAILABLE", "CANCELLED")
    assert set(after[:-1]) == {"NOT_LEADER"} and after[-1] in gone, after
    assert hints - {""} == {faultlab_cluster.wait_for_leader()}
