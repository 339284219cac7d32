"""A lock holder with a slow critical section, among contenders: the workload of the
Chaos Toolkit probe `lock_safe` (chaos/ctk/probes.py).

The holder (a process of its own, chaos/lock_holder.py) takes the lock, reads the set it
protects and then works on it for up to `hold_s`, keeping its session alive every third
of its TTL by its own clock; only then do the contenders start (so the holder never
waits in the lock's queue). It writes the set back once `hold_s` has passed, or sooner,
once the lock service has given the lock to a contender and that contender's add has
been acknowledged: the moment its write can do harm. On a healthy cluster the session
outlives the slow step and every add is kept; when the session expires under the holder
(a lock leader's fast clock, a paused or cut-off holder), its late write erases a newer
add unless writes are fenced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from chaos import lock_set
from chaos.history import NEMESIS, History
from chaos.lock_holder import HolderProcess, running_holder
from cluster.client import LockClient
from cluster.waiting import WaitTimeout, wait_until_async
from services.runtime.topology import Topology

HOLDER_TTL_MS = 1000
CONTENDER_TTL_S = 30.0  # outlives a clock running several times too fast
READY_S = 20.0  # for the holder to start, take the lock and read
ADD_S = 20.0  # for a contender's add once the lock has passed to it
CONTENDERS_AFTER_S = 2.0  # the contenders go on this long after the slow step
SLOW_STEP = "slow-step"


@dataclass(frozen=True)
class SlowStepSpec:
    topology_path: Path
    lock: str
    key: str
    fenced: bool
    hold_s: float
    contenders: int = 2


async def run(spec: SlowStepSpec, topology: Topology, history: History) -> None:
    args = ["--ttl-ms", str(HOLDER_TTL_MS), "--owner", "holder", "--key", spec.key]
    args += ["--element", "holder-1", *(["--fenced"] if spec.fenced else [])]
    contenders = lock_set.LockSetSpec(
        spec.lock, spec.key, spec.contenders, CONTENDER_TTL_S, spec.fenced, wait_s=spec.hold_s
    )
    async with (
        running_holder(spec.topology_path, spec.lock, history, *args) as holder,
        LockClient.for_topology(topology) as locks,
    ):
        await holder.wait_for("ready", READY_S)  # it holds the lock and has read the set
        history.record(
            NEMESIS, "invoke", SLOW_STEP, value=f"the holder works up to {spec.hold_s:g} s"
        )
        duration_s = spec.hold_s + CONTENDERS_AFTER_S
        slow_step = _slow_step(spec, holder, locks, history)
        await lock_set.run_beside(contenders, topology, history, duration_s, slow_step)


async def _slow_step(
    spec: SlowStepSpec, holder: HolderProcess, locks: LockClient, history: History
) -> None:
    started_ns = history.now_ns()

    async def taken_over() -> bool:
        try:
            return (await locks.holder(spec.lock)).session_id not in (0, holder.session)
        except grpc.aio.AioRpcError:  # the node asked is down or cut off: ask again
            return False

    async def newer_add_acknowledged() -> bool:
        return history.acknowledged_since("add", started_ns, "client-")

    try:
        await wait_until_async(taken_over, spec.hold_s, "the lock to pass to a contender")
    except WaitTimeout:
        said = "the slow step ended with the holder's session alive; it writes"
    else:
        await wait_until_async(newer_add_acknowledged, ADD_S, "a contender's add")
        said = "the lock passed to a contender, which added; the holder writes what it read"
    history.record(NEMESIS, "info", SLOW_STEP, value=said)
    holder.go()
    await holder.finish(READY_S)
