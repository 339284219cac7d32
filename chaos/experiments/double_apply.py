"""double-apply: a client retries a non-idempotent write whose answer was lost.

Clients append unique elements to lists kept in KV keys (the API's Append: not
idempotent). Midway, the leader's answers to clients are delayed past the clients'
deadline (a Toxiproxy latency toxic on the client -> leader link, answer direction
only): every request still reaches the leader and commits, every answer is lost, and
the client retries, as any client does after a timeout. The fault is aimed at the
leader and the delay is far above the deadline, so every append in the window has an
answer lost: the outcome does not depend on timing luck.

Unsafe: appends carry no session, so each retry is a new operation and is applied
again. Safe: each append carries (client id, sequence); the store applies a sequence
once and answers a retry with the first result.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import grpc

from chaos.chaos_mesh.steps import MeshStep
from chaos.checkers.exactly_once import check
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.history import History
from chaos.nemesis import Fault, late_answers_to_clients
from chaos.workload import failure_fields, outcome_of
from cluster.backend import Cluster
from cluster.client import KvClient
from services.runtime.topology import Topology

SEPARATOR = ";"


@dataclass(frozen=True)
class AppendSpec:
    sessions: bool
    clients: int = 3
    rate_per_client: float = 20.0
    timeout_s: float = 0.3
    attempts: int = 5  # leader, follower (NOT_LEADER), leader, ...: three tries reach it
    appends_per_key: int = 25  # then the client moves to a fresh key (independent keys)


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[AppendSpec, list[Fault]]:
    spec = AppendSpec(sessions=bool(mode.settings.get("sessions")))
    late_ms = round(spec.timeout_s * 1000 * 4)  # far past every deadline
    fault = late_answers_to_clients(
        "late-answers", late_ms, at_s=0.3 * duration_s, duration_s=0.4 * duration_s
    )
    return spec, [fault]


async def workload(
    spec: AppendSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    deadline = time.monotonic() + duration_s
    keys: set[str] = set()
    await asyncio.gather(
        *(
            _client(f"client-{i}", spec, topology, history, deadline, random.Random(seed + i), keys)
            for i in range(1, spec.clients + 1)
        )
    )
    async with KvClient.for_topology(topology) as kv:
        for key in sorted(keys):
            history.record("final", "invoke", "read-list", key=key)
            resp = await kv.get(key)
            elements = resp.kv.value.decode().split(SEPARATOR)[:-1] if resp.found else []
            history.record("final", "ok", "read-list", key=key, value=elements)


async def _client(
    name: str,
    spec: AppendSpec,
    topology: Topology,
    history: History,
    deadline: float,
    rng: random.Random,
    keys: set[str],
) -> None:
    interval_s = 1 / spec.rate_per_client
    n = 0
    async with KvClient.for_topology(
        topology,
        timeout_s=spec.timeout_s,
        attempts=spec.attempts,
        rng=rng,
        sessions=spec.sessions,
        client_id=name,
    ) as kv:
        while time.monotonic() < deadline:
            started = time.monotonic()
            n += 1
            key = f"double-apply/{name}/{n // spec.appends_per_key}"
            keys.add(key)
            element = f"{name}-{n}"
            history.record(name, "invoke", "append", key=key, value=element)
            try:
                await kv.append(key, (element + SEPARATOR).encode())
            except grpc.aio.AioRpcError as e:
                history.record(name, outcome_of(e), "append", key=key, **failure_fields(e))
            else:
                history.record(name, "ok", "append", key=key)
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))


def judge(data: RunData, mode: Mode) -> Finding:
    final = {
        op.key: op.output for op in data.operations if op.f == "read-list" and op.outcome == "ok"
    }
    result = check(data.operations, final)
    figures = result.figures()
    if result.valid:
        return Finding(
            False,
            f"exactly once: {result.acknowledged} acknowledged and {result.indefinite} "
            f"indefinite appends, none applied twice or lost",
            figures=figures,
        )
    worst = sorted(result.duplicated.items(), key=lambda kv: -kv[1])[:5]
    lines = ["| element | times applied |", "|---|---|"]
    lines += [f"| {element} | {times} |" for element, times in worst]
    parts = []
    if result.duplicated:
        parts.append(
            f"{len(result.duplicated)} append(s) applied more than once "
            f"({figures['extra_applications']:.0f} extra applications)"
        )
    if result.lost:
        parts.append(f"{len(result.lost)} acknowledged append(s) lost")
    if result.applied_despite_failure:
        parts.append(f"{len(result.applied_despite_failure)} failed append(s) applied")
    return Finding(True, "; ".join(parts), "\n".join(lines), figures)


EXPERIMENT = Experiment(
    name="double-apply",
    title="A retried non-idempotent write is applied twice",
    sources=(
        "Airbnb, Avoiding double payments in a distributed payments system (2019)",
        "Stripe, Designing robust and predictable APIs with idempotency (2017)",
        "Ongaro, Consensus: Bridging Theory and Practice, §6.3 (client sessions)",
    ),
    hypothesis=(
        "When a write's answer is lost, the client cannot tell whether it was applied and "
        "retries. Unsafe (no session): the store cannot tell a retry from a new request and "
        "applies it again, so appends whose answers were lost appear more than once. Safe "
        "(each write carries client id and sequence): the store applies each sequence once "
        "and answers the retry with the first result; every append is applied exactly once."
    ),
    unsafe=Mode("unsafe", "appends carry no session", {}, True, settings={"sessions": False}),
    safe=Mode(
        "safe", "appends carry (client id, sequence)", {}, False, settings={"sessions": True}
    ),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (
        MeshStep(
            "late-answers",
            "delay",
            "leader",
            "kv",
            0.3,
            0.7,
            peers="toxiproxy",
            latency_ms=4000,
            note="the answers to clients, whose links run through the Toxiproxy pod",
        ),
    ),
    doc="docs/experiments/double-apply.md",
    workload=workload,
)
