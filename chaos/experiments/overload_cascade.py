"""overload-cascade: one slow backend, and the calls of everyone else.

Three KV nodes, one lock node, one gateway with a pool of 16 workers. Two tenants:
`batch` (24 best-effort callers of the lock service, 5 s timeouts) and `shop` (4
critical callers of KV reads, 2 s timeouts). From 30% to 80% of the run the lock node
answers the gateway LATENCY_MS late.

Unsafe (one shared pool, no deadline, no bulkhead, no shedding): batch's slow calls hold
every worker, shop's calls queue behind them, and a healthy route's latency becomes the
slow one's. Safe (a bulkhead of 4 for each backend group, 250 ms per call at the gateway,
priority shedding): the slow backend gets 4 workers and the rest are refused at once;
shop's median stays near its baseline and its calls succeed.
"""

from __future__ import annotations

from chaos import gateway_calls
from chaos.chaos_mesh.steps import MeshStep
from chaos.checkers.latency import latency_ms
from chaos.experiments.base import Experiment, Finding, Mode, RunData
from chaos.experiments.gateway_configs import gateway_mode
from chaos.gateway_calls import GatewayLoadSpec
from chaos.history import Operation
from chaos.nemesis import Fault
from chaos.net import Network
from cluster.backend import Cluster
from services.runtime.topology import Group, Topology

LATENCY_MS = 500
START, END = 0.3, 0.8
SETTLE_S = 0.5
SUCCESS_GOAL = 0.99
WARM_S = 0.5  # the first calls open connections: not a baseline
HEALTHY = "shop"


def slow_lock(at_s: float, duration_s: float) -> Fault:
    def inject(cluster: Cluster, net: Network) -> str:
        net.latency(("gateway1", "lock1"), LATENCY_MS)
        return f"lock1 answers the gateway {LATENCY_MS} ms late"

    return Fault("slow-backend", at_s, duration_s, inject, lambda c, net: net.heal())


def plan(
    cluster: Cluster, mode: Mode, duration_s: float
) -> tuple[tuple[GatewayLoadSpec, ...], list[Fault]]:
    batch = GatewayLoadSpec(
        api_key="batch-key",
        callers=24,
        timeout_s=5.0,
        name="batch",
        priority="best-effort",
        pause_on_refusal_s=0.05,
    )
    shop = GatewayLoadSpec(
        api_key="shop-key",
        callers=4,
        timeout_s=2.0,
        name=HEALTHY,
        call="kv-stale-get",
        priority="critical",
    )
    return (batch, shop), [slow_lock(START * duration_s, (END - START) * duration_s)]


def judge(data: RunData, mode: Mode) -> Finding:
    [(_, start_s, end_s)] = data.history.fault_windows()
    healthy = [op for op in data.operations if op.process.startswith(HEALTHY)]
    # The baseline: calls that began and ended before the fault (none waiting behind it).
    baseline = latency_ms(healthy, "call", WARM_S, start_s - LATENCY_MS / 1000 - 0.1)
    during = latency_ms(healthy, "call", start_s + SETTLE_S, end_s)
    success = _success(healthy, start_s + SETTLE_S, end_s)
    # Medians against the same run's baseline: a busy machine slows every call alike, and
    # the baseline is short enough that its p99 is one call, which a hiccup of a loaded
    # machine can hold for hundreds of ms. When the slow backend has spread, the typical
    # healthy call waits for a worker, so the median moves by the whole latency.
    spread = during["p50"] - baseline["p50"] >= LATENCY_MS / 2 or success < SUCCESS_GOAL
    summary = (
        f"{HEALTHY}'s KV reads while the lock node was {LATENCY_MS} ms slow: p50 "
        f"{during['p50']:.1f} ms (p99 {during['p99']:.1f}) against a baseline p50 of "
        f"{baseline['p50']:.1f} ms (p99 {baseline['p99']:.1f}), {success:.1%} "
        "succeeded: the slow backend "
        f"{'did' if spread else 'did not'} spread to the healthy route"
    )
    figures = {
        "baseline_p50_ms": round(baseline["p50"], 2),
        "baseline_p99_ms": round(baseline["p99"], 2),
        "during_p50_ms": round(during["p50"], 2),
        "during_p99_ms": round(during["p99"], 2),
        "healthy_success": round(success, 4),
        "healthy_calls": during["count"],
    }
    return Finding(spread, summary, "", figures)


def _success(operations: list[Operation], start_s: float, end_s: float) -> float:
    window = [op for op in operations if start_s <= op.start_ns / 1e9 < end_s]
    return sum(op.outcome == "ok" for op in window) / len(window) if window else 0.0


EXPERIMENT = Experiment(
    name="overload-cascade",
    title="A slow backend takes the gateway's workers, unless bulkheads and deadlines stop it",
    sources=(
        "Stripe, Scaling your API with rate limiters (2017): load shedders by priority",
        "Netflix Hystrix: bulkheads, and How it Works",
        "Nygard, Release It! (2nd ed., 2018): cascading failures, bulkheads, timeouts",
    ),
    hypothesis=(
        f"With one worker pool and no deadlines, a backend {LATENCY_MS} ms slow takes every "
        "worker and a healthy route's reads wait behind it (their median rises by half the "
        f"slow backend's latency, {LATENCY_MS // 2} ms, or more over its baseline); with a "
        "bulkhead per backend, a deadline per call and priority shedding, the healthy route's "
        "median "
        f"stays near its baseline, and at least {SUCCESS_GOAL:.0%} of its critical calls "
        "succeed."
    ),
    unsafe=gateway_mode(
        "overload-cascade",
        "unsafe",
        "one worker pool for every route, no deadlines or bulkheads",
        True,
    ),
    safe=gateway_mode(
        "overload-cascade",
        "safe",
        "bulkheads per backend, 250 ms deadlines, priority shedding",
        False,
    ),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (
        MeshStep(
            "slow-backend",
            "delay",
            "lock1",
            "lock",
            START,
            END,
            peers="gateway",
            latency_ms=LATENCY_MS,
        ),
    ),
    doc="docs/experiments/overload-cascade.md",
    topology=Topology.build(
        "127.0.0.1", 0, (Group("kv", 3), Group("lock", 1), Group("gateway", 1))
    ),
    workload=gateway_calls.run,
)
