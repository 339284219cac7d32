"""retry-storm: a backend blip under many callers, and what the gateway's retries do.

Three KV nodes behind one gateway; 16 callers make linearizable reads (the leader
answers) back to back. From 40% to 40% + BLIP_S of the run, every link from the gateway
to the KV nodes resets its connections: a backend blip, as in a deploy or a crash loop.

Unsafe (retries at once, up to 10, no budget, no breaker): every failed call is tried 11
times, all callers together: the retry amplification (attempts per call) during the blip
is about 11, load the backend gets the moment it is back. Safe (3 retries with capped
exponential backoff and full jitter, a gRFC A6 retry budget, a breaker per node): retries
stop once most attempts fail and the breakers open, so the amplification stays near 1 or
below, and goodput returns within RECOVERY_BOUND_S of the blip's end (gRPC's reconnect
backoff plus two of the breaker's open periods) on an idle machine.

The verdict is logical, so a busy machine cannot flip it: the amplification is a count of
attempts per call, and recovery is judged as "a call begun after the blip succeeded
before the run ended". The recovery time is reported beside RECOVERY_BOUND_S, the time
it takes an idle machine, but does not decide the verdict: on two busy cores every timer
above fires late by however long the process waits for a core.
"""

from __future__ import annotations

from chaos import gateway_calls
from chaos.chaos_mesh.steps import MeshStep
from chaos.experiments.base import DECISIONS, Experiment, Finding, Mode, RunData
from chaos.experiments.gateway_configs import gateway_mode
from chaos.gateway_calls import GatewayLoadSpec
from chaos.nemesis import Fault
from chaos.net import Cut, Network
from cluster.backend import Cluster
from services.gateway.journal import read_journals
from services.runtime.topology import Group, Topology

START = 0.4
BLIP_S = 2.0
AMPLIFICATION_BOUND = 2.0  # attempts per call the safe mode stays under during the blip
# After the blip: a channel whose connects failed waits out gRPC's reconnect backoff
# (at most 1 s, +-20% jitter: 1.2 s) before it connects again, and a breaker probe that
# lands before that fails and keeps the breaker open one more period (0.5 s); then the
# next probe, at most 0.5 s later, gets through. Expected on an idle machine; reported.
RECOVERY_BOUND_S = 1.2 + 0.5 + 0.5


def blip(at_s: float, duration_s: float) -> Fault:
    def inject(cluster: Cluster, net: Network) -> str:
        kv = [n.id for n in cluster.topology.group_nodes("kv")]
        net.partition_one_way(["gateway1"], kv, Cut.RESET)
        return "gateway1's connections to every KV node reset"

    return Fault("backend-blip", at_s, duration_s, inject, lambda c, net: net.heal())


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[GatewayLoadSpec, list[Fault]]:
    spec = GatewayLoadSpec(api_key="app-key", callers=16, call="kv-get", timeout_s=1.0)
    return spec, [blip(START * duration_s, BLIP_S)]


def judge(data: RunData, mode: Mode) -> Finding:
    [(_, start_s, end_s)] = data.history.fault_windows()
    assert data.folder is not None
    records = read_journals(data.folder / DECISIONS)
    wall_start, wall_end = data.started_wall_s + start_s, data.started_wall_s + end_s
    during = [r for r in records if wall_start <= r.t < wall_end]
    attempts = sum(r.attempts for r in during)
    amplification = attempts / len(during) if during else 0.0
    after = [op for op in data.operations if op.start_ns / 1e9 >= end_s and op.outcome == "ok"]
    recovered = [op.end_ns / 1e9 for op in after if op.end_ns is not None]
    recovery_s = min(recovered) - end_s if recovered else float("inf")
    storm = amplification > AMPLIFICATION_BOUND or not recovered
    after_blip = (
        f"first success {recovery_s:.2f} s after the blip ended (idle machine: "
        f"<= {RECOVERY_BOUND_S:g} s)"
        if recovered
        else "no call begun after the blip succeeded before the run ended"
    )
    summary = (
        f"during the {BLIP_S:g} s blip: {len(during)} calls, {attempts} attempts, "
        f"amplification {amplification:.2f} attempts per call; {after_blip}"
    )
    figures = {
        "calls_during": len(during),
        "attempts_during": attempts,
        "amplification": round(amplification, 2),
        "recovery_s": round(recovery_s, 3),
        "amplification_bound": AMPLIFICATION_BOUND,
        "recovery_bound_s": RECOVERY_BOUND_S,
    }
    return Finding(storm, summary, "", figures)


EXPERIMENT = Experiment(
    name="retry-storm",
    title="Retries without backoff, budget or breaker multiply a blip's load",
    sources=(
        "Marc Brooker, Exponential Backoff and Jitter, AWS Architecture Blog (2015)",
        "PayPal: thundering herds after an outage; Bronson et al., Metastable Failures in "
        "Distributed Systems (HotOS 2021)",
        "gRFC A6, gRPC Retry Design: retry throttling",
    ),
    hypothesis=(
        f"During a {BLIP_S:g} s backend blip under 16 callers, immediate retries without a "
        "budget or breaker multiply the attempts (about 11 per call); with backoff and full "
        "jitter, a retry budget and a breaker per node, the gateway makes at most "
        f"{AMPLIFICATION_BOUND:g} attempts per call and goodput returns after the blip "
        f"(within {RECOVERY_BOUND_S:g} s on an idle machine)."
    ),
    unsafe=gateway_mode(
        "retry-storm", "unsafe", "up to 10 retries at once, no budget, no breaker", True
    ),
    safe=gateway_mode(
        "retry-storm", "safe", "3 retries with backoff and jitter, a retry budget, breakers", False
    ),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (
        MeshStep(
            "backend-blip",
            "partition-to",
            "gateway1",
            "gateway",
            START,
            1.0,
            peers="kv",
            length_s=BLIP_S,
            note="connections time out instead of being reset (the lab resets them)",
        ),
    ),
    doc="docs/experiments/retry-storm.md",
    topology=Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("gateway", 1))),
    workload=gateway_calls.run,
)
