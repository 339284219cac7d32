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
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc

from chaos import locking
from chaos.checkers import counter as counter_checker
from chaos.child import ChildProcess
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.goclients import built
from chaos.history import NEMESIS, History
from chaos.nemesis import Fault
from cluster.backend import Cluster
from cluster.waiting import wait_until_async
from services.runtime import tls
from services.runtime.topology import Group, Topology

KEY = "/faultlab/counter"
LOCK = "/faultlab/counter-lock"
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


def endpoints(topology: Topology) -> str:
    return ",".join(topology.client_address(n.id) for n in topology.nodes if n.group == "kv")


class GoClient(ChildProcess):
    """A running counter client: what it prints goes into the history."""

    def __init__(self, proc: asyncio.subprocess.Process, history: History) -> None:
        super().__init__(proc)
        self.history = history

    async def until(self, field: str, timeout_s: float) -> dict[str, object]:
        """Record its events until it prints a line with `field`; that line."""
        async with asyncio.timeout(timeout_s):
            while line := await self._line():
                event = locking.replay(line, self.history)
                if event is None and field in line:
                    return dict(json.loads(line))
        raise RuntimeError(f"the client exited ({await self.proc.wait()}) before {field!r}")

    async def finish(self, timeout_s: float) -> int:
        async with asyncio.timeout(timeout_s):
            while line := await self._line():
                locking.replay(line, self.history)
            return await self.proc.wait()

    async def _line(self) -> str:
        assert self.proc.stdout is not None
        return (await self.proc.stdout.readline()).decode()


@contextlib.asynccontextmanager
async def go_client(
    topology: Topology, history: History, spec: LockPauseSpec, *args: str
) -> AsyncIterator[GoClient]:
    proc = await asyncio.create_subprocess_exec(
        str(built("etcdclient")),
        "counter",
        *("-endpoints", endpoints(topology), "-key", KEY, "-lock", LOCK),
        *(["-fenced"] if spec.fenced else []),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    client = GoClient(proc, history)
    try:
        yield client
    finally:
        await client.reap()


async def workload(
    spec: LockPauseSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        contenders = [
            await stack.enter_async_context(
                go_client(
                    topology,
                    history,
                    spec,
                    *("-process", f"client-{i}", "-ttl", str(CONTENDER_TTL_S)),
                    *("-duration-s", str(duration_s)),
                )
            )
            for i in range(1, spec.contenders + 1)
        ]
        running = [asyncio.create_task(c.finish(duration_s + STEP_S)) for c in contenders]
        await asyncio.sleep(spec.holder_at_share * duration_s)
        await _pause_the_holder(spec, history, topology)
        await asyncio.gather(*running)
    await _read_final(topology, history)


async def _pause_the_holder(spec: LockPauseSpec, history: History, topology: Topology) -> None:
    args = ("-process", "holder", "-hold", "-ttl", str(HOLDER_TTL_S))
    async with (
        go_client(topology, history, spec, *args) as holder,
        _kv(topology) as kv,
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


@contextlib.asynccontextmanager
async def _kv(topology: Topology) -> AsyncIterator[rpc_pb2_grpc.KVStub]:
    address = endpoints(topology).split(",")[0]
    async with tls.aio_channel(address) as channel:
        yield rpc_pb2_grpc.KVStub(channel)


async def _read_final(topology: Topology, history: History) -> None:
    history.record("final", "invoke", "read", key=KEY)
    async with _kv(topology) as kv:
        answer = await kv.Range(rpc_pb2.RangeRequest(key=KEY.encode()), timeout=STEP_S)
    value = int(answer.kvs[0].value) if answer.kvs else 0
    history.record("final", "ok", "read", key=KEY, value=value)


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
    doc="docs/experiments/etcd-lock-pause.md",
    topology=Topology.build("127.0.0.1", 0, (Group("kv", 3),)),
    workload=workload,
)
