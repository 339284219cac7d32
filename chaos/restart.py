"""Stopping a leader under a steady write load, and what the writers saw: the measure of
a graceful stop (SIGTERM) and of a rolling restart.

    run = await stop_under_load(cluster, [leader], restart=False)
    run.write_gap_s, run.outcome_unknown

The writers are the chaos workload's leader-following clients, so every outcome is
recorded in a Jepsen history and classified by reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chaos.checkers.availability import longest_gap_s
from chaos.history import History, pair
from chaos.workload import ClientSpec, WorkloadSpec, run_workload
from cluster.backend import Cluster

WRITERS = 3
RATE_PER_WRITER = 100.0  # attempted writes per second each


@dataclass(frozen=True)
class StopRun:
    write_gap_s: float  # the longest time with no acknowledged write, from the first stop
    outcome_unknown: int  # writes whose outcome the writer could not know (Jepsen's info)
    failed: int  # definite failures
    acknowledged: int
    history: History


async def stop_under_load(
    cluster: Cluster, nodes: list[str], restart: bool, settle_s: float = 1.0
) -> StopRun:
    """SIGTERM each of `nodes` in turn (and start it again when `restart`, waiting for a
    leader before the next), while writers run from `settle_s` before the first stop to
    `settle_s` after the last."""
    history = History()
    clients = tuple(ClientSpec(f"writer-{i}", None, reads=False) for i in range(WRITERS))
    spec = WorkloadSpec(clients, rate_per_client=RATE_PER_WRITER, cas_share=0.0, timeout_s=2.0)
    started_ns: list[int] = []

    async def stopper() -> None:
        await asyncio.sleep(settle_s)
        started_ns.append(history.now_ns())
        for node in nodes:
            await asyncio.to_thread(cluster.stop, node)
            if restart:
                await asyncio.to_thread(cluster.start_node, node)
            await asyncio.to_thread(cluster.wait_for_leader)
        await asyncio.sleep(settle_s)

    duration_s = 600.0  # the workload is cancelled once the stopper is done, not timed
    workload = asyncio.create_task(run_workload(spec, cluster.topology, history, duration_s, 1))
    await stopper()
    workload.cancel()
    await asyncio.gather(workload, return_exceptions=True)
    ops = list(pair(history.events))
    errors = [e for e in history.client_events() if e.type in ("fail", "info")]
    return StopRun(
        write_gap_s=longest_gap_s(ops, "write", started_ns[0], history.now_ns()),
        outcome_unknown=sum(1 for e in errors if e.type == "info"),
        failed=sum(1 for e in errors if e.type == "fail"),
        acknowledged=sum(1 for op in ops if op.outcome == "ok"),
        history=history,
    )
