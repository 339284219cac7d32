"""etcd-lock-pause: etcd's own Go client holds concurrency.Mutex, pauses past its lease,
and writes anyway.

Jepsen's etcd 3.4.3 analysis with etcd's real client: every client is a Go process using
go.etcd.io/etcd/client/v3 (chaos/goclients/etcdclient, counter.go) against faultlab's
etcd API. Two contenders increment a counter kept in etcd under the mutex: lock, read n,
write n+1, unlock. A third, the holder, locks and reads, and there, between its read and
its write, the nemesis stops it with SIGSTOP.

The fault is aimed, not timed: the holder is stopped only once it has read; it is resumed
only once its session's lease has expired (its mutex key is gone) *and* a contender's
increment under the lock has been acknowledged. So the holder's late write always comes
after a newer holder's. Unsafe (a plain Put): it writes n+1 over the larger count and
increments are lost. Safe (a Txn guarded by Mutex.IsOwner, the lock key's create
revision: etcd's own fencing): the write is refused and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from etcdapi.etcdserverpb import rpc_pb2

from chaos import etcd_counter
from chaos.chaos_mesh.steps import CLIENT_STEP_GAP
from chaos.checkers import counter as counter_checker
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.goclients import built
from chaos.history import NEMESIS, History
from chaos.nemesis import Fault
from cluster.backend import Cluster
from cluster.waiting import wait_until_async
from services.runtime.topology import Group, Topology

PAUSE = "pause-holder"
HOLDER_TTL_S = 2  # etcd's shortest lease: the holder's pause outlives it
CONTENDER_TTL_S = 5
STEP_S = 20.0  # the most any one step of the pause may wait


@dataclass(frozen=True)
class LockPauseSpec:
    fenced: bool
    contenders: int = 2
    holder_at_share: float = 0.2  # of the run, when the holder starts


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[LockPauseSpec, list[Fault]]:
    built("etcdclient")  # before the clock runs: the first build fetches Go modules
    # The pause is the workload's own step (between the holder's read and its write),
    # recorded as a nemesis event; no timed faults.
    return LockPauseSpec(bool(mode.settings.get("fenced"))), []


async def workload(
    spec: LockPauseSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    counter = etcd_counter.EtcdCounterSpec(spec.fenced, spec.contenders, CONTENDER_TTL_S)
    async with etcd_counter.contenders(counter, topology, history, duration_s) as running:
        await asyncio.sleep(spec.holder_at_share * duration_s)
        await _pause_the_holder(counter, history, topology)
        await asyncio.gather(*running)
    await etcd_counter.read_final(counter, topology, history)


async def _pause_the_holder(
    spec: etcd_counter.EtcdCounterSpec, history: History, topology: Topology
) -> None:
    args = ("-process", "holder", "-hold", "-ttl", str(HOLDER_TTL_S))
    async with (
        etcd_counter.go_client(topology, history, spec, *args) as holder,
        etcd_counter.kv_stub(topology) as kv,
    ):
        ready = await holder.until("ready", STEP_S)  # it holds the mutex and has read
        holder.pause()
        history.record(NEMESIS, "invoke", PAUSE, value=f"SIGSTOP lock holder (pid {holder.pid})")
        assert holder.proc.stdin is not None
        holder.proc.stdin.write(b"go\n")  # read when it runs again: then it writes
        paused_at_ns = history.now_ns()
        lock_key = str(ready["lock_key"]).encode()

        async def lease_expired() -> bool:
            with contextlib.suppress(Exception):  # a node down under load: ask again
                answer = await kv.Range(rpc_pb2.RangeRequest(key=lock_key, count_only=True))
                return bool(answer.count == 0)
            return False

        await wait_until_async(lease_expired, STEP_S, "the paused holder's lease to expire")

        async def newer_increment() -> bool:
            return history.acknowledged_since("write", paused_at_ns, "client-")

        await wait_until_async(newer_increment, STEP_S, "a contender's increment")
        holder.resume()
        history.record(NEMESIS, "info", PAUSE, value="SIGCONT: the holder writes what it read")
        await holder.finish(STEP_S)


def judge(data: RunData, mode: Mode) -> Finding:
    final = next(
        (int(op.output) for op in data.operations if op.process == "final" and op.outcome == "ok"),
        0,
    )
    result = counter_checker.check(data.operations, final)
    holder = [op for op in data.operations if op.process == "holder" and op.f == "write"]
    late = holder[0].outcome if holder else "none"
    figures = {
        "acknowledged_increments": float(result.acknowledged),
        "final_counter": float(final),
        "lost_increments": float(result.lost),
        "values_written_twice": float(len(result.duplicates)),
    }
    details = (
        f"The paused holder's late write: **{late}**"
        + (f" ({holder[0].output})" if holder and holder[0].output is not None else "")
        + f". Acknowledged increments {result.acknowledged}, final counter {final}."
    )
    if result.safe:
        summary = f"no increment lost: {result.acknowledged} acknowledged, counter at {final}"
        return Finding(False, summary, details, figures)
    summary = (
        f"{result.lost} acknowledged increment(s) lost: {result.acknowledged} acknowledged, "
        f"counter at {final}"
    )
    if result.duplicates:
        summary += f"; value(s) written twice: {result.duplicates[:5]}"
    return Finding(True, summary, details, figures)


EXPERIMENT = Experiment(
    name="etcd-lock-pause",
    title="etcd's Go client: a paused Mutex holder writes after its lease expired",
    sources=(
        "Jepsen, etcd 3.4.3 (2020): etcd locks are not mutexes (etcd-io/etcd#11456)",
        "Kleppmann, How to do distributed locking (2016): fencing tokens",
        "etcd's client/v3/concurrency: Mutex.IsOwner, the compare that fences a write",
    ),
    hypothesis=(
        "etcd's Mutex is a lease: a holder that pauses past its TTL loses it without "
        "knowing, and another client takes it. Unsafe (the holder writes with a plain "
        "Put): its late write carries a count read before the others' increments and "
        "erases them. Safe (the write is a Txn guarded by Mutex.IsOwner, the lock key's "
        "create revision): etcd refuses the late write and no increment is lost."
    ),
    unsafe=Mode("unsafe", "the increment is a plain Put", {}, True, settings={"fenced": False}),
    safe=Mode(
        "safe",
        "the increment is a Txn guarded by Mutex.IsOwner",
        {},
        False,
        settings={"fenced": True},
    ),
    plan=plan,
    judge=judge,
    mesh_gaps=(CLIENT_STEP_GAP,),
    doc="docs/experiments/etcd-lock-pause.md",
    topology=Topology.build("127.0.0.1", 0, (Group("kv", 3),)),
    workload=workload,
)
