"""lock-gc-pause: a lock holder pauses past its session's TTL, then writes anyway.

Kleppmann's example, with real processes: the holder is a process of its own
(chaos/lock_holder.py). It takes the lock, reads the protected set, and there, between
its read and its write, the nemesis stops it with SIGSTOP (a stop-the-world GC pause,
in effect). Its session expires, the lock passes to a contender, which adds to the set.
Then the holder is resumed and writes back the set it read before the pause.

The fault is aimed, not timed: the holder is stopped only once it has read, and resumed
only once the lock service has expired its session *and* a contender's add under the
next token has been acknowledged. So the holder's late write always comes after a newer
holder's write: in the unsafe mode it always erases it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from chaos import lock_set
from chaos.chaos_mesh.steps import CLIENT_STEP_GAP
from chaos.checkers import lock as lock_checker
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.history import NEMESIS, History
from chaos.lock_holder import HolderProcess, running_holder
from chaos.nemesis import Fault
from cluster.backend import Cluster
from cluster.client import LockClient
from cluster.waiting import wait_until_async
from services.runtime.topology import Group, Topology

LOCK = "gc-lock"
KEY = "gc/set"  # one set per run: a run adds a few hundred short elements at most
PAUSE = "pause-holder"
TIMELINE_AFTER = 4  # rows of the report's timeline after the holder's last step
CONTENDER_WAIT_S = 5.0  # for the lock, per turn


@dataclass(frozen=True)
class HolderFault:
    """How the staged holder loses its lock without knowing it: `cut` once it holds the
    lock and has read the set; `release`, once its session has expired and a contender's
    add under a newer token is acknowledged, lets it write. Each says what it did."""

    name: str
    cut: Callable[[HolderProcess], str]
    release: Callable[[HolderProcess], str]


def _pause(holder: HolderProcess) -> str:
    holder.pause()
    holder.go()  # waiting in its stdin pipe: the first thing it does when it runs again
    return f"SIGSTOP lock holder (pid {holder.pid})"


def _resume(holder: HolderProcess) -> str:
    holder.resume()
    return "SIGCONT: the holder writes what it read"


PAUSE_HOLDER = HolderFault(PAUSE, _pause, _resume)


@dataclass(frozen=True)
class GcPauseSpec:
    topology_path: Path
    fenced: bool
    contenders: int = 2
    holder_ttl_ms: int = 1000
    contender_ttl_s: float = 3.0  # roomy: only the holder's session should ever expire
    holder_at_share: float = 0.2  # of the run, when the holder process starts
    fault: HolderFault = field(default=PAUSE_HOLDER)


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[GcPauseSpec, list[Fault]]:
    cluster.wait_for_leader(group="lock", timeout_s=20.0)
    fenced = bool(mode.settings.get("fenced"))
    # The pause is the workload's own step (it must land between the holder's read and
    # its write), recorded as a nemesis event, so no timed faults here.
    return GcPauseSpec(cluster.topology_path, fenced), []


async def workload(
    spec: GcPauseSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    """lock_set's contenders (chaos/lock_set.py), and beside them the staged holder."""
    contenders = lock_set.LockSetSpec(
        LOCK, KEY, spec.contenders, spec.contender_ttl_s, spec.fenced, wait_s=CONTENDER_WAIT_S
    )

    async def staged_holder() -> None:
        await asyncio.sleep(spec.holder_at_share * duration_s)
        await _stage_the_holder(spec, history, topology)

    await lock_set.run_beside(contenders, topology, history, duration_s, staged_holder())


async def _stage_the_holder(spec: GcPauseSpec, history: History, topology: Topology) -> None:
    args = [
        "--ttl-ms",
        str(spec.holder_ttl_ms),
        "--owner",
        "holder",
        "--key",
        KEY,
        "--element",
        "holder-1",
        *(["--fenced"] if spec.fenced else []),
    ]
    async with (
        running_holder(spec.topology_path, LOCK, history, *args) as holder,
        LockClient.for_topology(topology) as locks,
    ):
        await holder.wait_for("ready", 20)  # it holds the lock and has read the set
        history.record(NEMESIS, "invoke", spec.fault.name, value=spec.fault.cut(holder))
        paused_at_ns = history.now_ns()

        async def taken_over() -> bool:
            try:
                return (await locks.holder(LOCK)).session_id not in (0, holder.session)
            except grpc.aio.AioRpcError:  # the node asked is down or cut off: ask again
                return False

        await wait_until_async(taken_over, 20, "the staged holder's session to expire")

        async def newer_add_acknowledged() -> bool:
            return history.acknowledged_since("add", paused_at_ns, "client-")

        await wait_until_async(newer_add_acknowledged, 20, "a contender's add")
        history.record(NEMESIS, "info", spec.fault.name, value=spec.fault.release(holder))
        await holder.finish(20)


def judge(data: RunData, mode: Mode) -> Finding:
    final = {
        op.key: op.output for op in data.operations if op.process == "final" and op.outcome == "ok"
    }
    result = lock_checker.check(data.operations, final)
    figures: dict[str, float] = {k: float(v) for k, v in lock_checker.summary(result).items()}
    details = _timeline_md(data, result)
    if result.safe:
        summary = (
            f"no lost update: {result.acknowledged} acknowledged adds all present; "
            f"{len(result.overlaps)} overlapping holder belief(s) reported"
        )
        return Finding(False, summary, details, figures)
    parts = []
    if result.lost:
        parts.append(f"{len(result.lost)} acknowledged add(s) lost ({', '.join(result.lost[:5])})")
    if result.stale_writes:
        parts.append(f"{len(result.stale_writes)} write(s) accepted with a stale token")
    if not result.mutex.valid:
        parts.append("the lock history is not linearizable against a mutex")
    if result.token_violations:
        parts.append(f"token violations: {result.token_violations[:3]}")
    return Finding(True, "; ".join(parts), details, figures)


def _timeline_md(data: RunData, result: lock_checker.LockResult) -> str:
    """Holders, tokens, expiries, the pause and the holder's write, in time order, from
    the holder's grant until a few grants after its write."""
    rows = []
    for e in data.history.events:
        if e.process == NEMESIS:
            rows.append((e.time_ns, "nemesis", e.f, str(e.value)))
        elif e.f in ("acquire", "expire") and e.type == "ok":
            what = f"granted token {e.value}" if e.f == "acquire" else "session expired"
            rows.append((e.time_ns, e.process, e.f, what))
        elif e.f == "add" and e.type != "invoke" and (e.process == "holder" or e.type != "ok"):
            rows.append((e.time_ns, e.process, "add", f"{e.type} {e.reason or e.value or ''}"))
    rows.sort()
    start = next((i for i, r in enumerate(rows) if r[1] == "holder"), 0)
    last = max((i for i, r in enumerate(rows) if r[1] in ("holder", "nemesis")), default=0)
    lines = [
        "### Timeline of the holder's lost lock",
        "",
        "| time (s) | process | step | what |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {t / 1e9:.3f} | {p} | {step} | {what} |"
        for t, p, step, what in rows[start : last + TIMELINE_AFTER + 1]
    ]
    lines += ["", "### Overlapping beliefs", ""]
    lines += [
        f"- {o.first.process} (token {o.first.token}) and {o.second.process} (token "
        f"{o.second.token}) both believed they held the lock for {o.seconds:.3f}s"
        for o in result.overlaps
    ] or ["- none"]
    if result.stale_writes:
        lines += ["", "### Writes accepted with a stale token", ""]
        lines += [
            f"- {w.process}: revision {w.revision} with token {w.token}, after token "
            f"{w.highest_before} had written"
            for w in result.stale_writes
        ]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="lock-gc-pause",
    title="A paused lock holder writes after its lease expired",
    sources=(
        "Kleppmann, How to do distributed locking (2016): fencing tokens",
        "Burrows, The Chubby lock service (OSDI 2006), §2.4 sequencers",
        "Jepsen, etcd 3.4.3 (2020): etcd locks are not mutexes (etcd-io/etcd#11456)",
    ),
    hypothesis=(
        "A lease-based lock cannot by itself keep two clients from acting as holder: a "
        "holder that pauses past its TTL loses the lock without knowing it and writes "
        "afterwards. Unsafe (writes carry no token): the late write replaces a newer "
        "holder's and acknowledged updates are lost. Safe (every write carries the lock's "
        "fencing token): the store refuses the late write and no update is lost, although "
        "both clients still believed they held the lock for a while."
    ),
    unsafe=Mode(
        "unsafe",
        "writes under the lock carry no fencing token",
        {},
        True,
        settings={"fenced": False},
    ),
    safe=Mode(
        "safe", "writes carry the lock's fencing token", {}, False, settings={"fenced": True}
    ),
    plan=plan,
    judge=judge,
    mesh_gaps=(CLIENT_STEP_GAP,),
    doc="docs/experiments/lock-gc-pause.md",
    topology=Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("lock", 3))),
    workload=workload,
)
