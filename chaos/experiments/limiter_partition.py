"""limiter-partition: the gateways lose the store behind their shared rate limit.

Two gateway replicas enforce one tenant's limit of LIMIT calls per 1 s window together,
leasing tokens from the KV store. Callers offer far more than the limit through both
replicas. From 30% to 80% of the run the gateways are cut off from every KV node (a
blackhole: calls to the store hang, as to a dead Redis). Each replica then decides alone,
by its declared policy, within the store timeout.

Unsafe (local_full, "fall back to the local limit"): each replica admits the whole limit,
so the tenant gets about replicas x LIMIT per window. Safe (local_share): each admits
LIMIT / replicas, so the total stays at LIMIT. The judge reads every replica's decision
journal and holds both runs to the safe bound (chaos/checkers/limiter.py): LIMIT per
window, and in a window where the store was lost or regained, leased plus local share.
"""

from __future__ import annotations

from chaos import gateway_calls
from chaos.chaos_mesh.steps import MeshStep
from chaos.checkers import limiter
from chaos.experiments.base import DECISIONS, Experiment, Finding, Mode, RunData
from chaos.experiments.gateway_configs import gateway_mode
from chaos.gateway_calls import GatewayLoadSpec
from chaos.nemesis import Fault, cut_group_from
from cluster.backend import Cluster
from services.gateway.journal import CallRecord, read_journals
from services.runtime.topology import Group, Topology

LIMIT = 30
REPLICAS = 2
START, END = 0.3, 0.8
# The limited calls go to the lock service, so the gateways still serve them without KV.
TOPOLOGY = Topology.build(
    "127.0.0.1", 0, (Group("kv", 3), Group("lock", 1), Group("gateway", REPLICAS))
)
SAFE_BOUND = limiter.LimitUnderTest(
    "metered",
    "fixed_window",
    limit=LIMIT,
    window_s=1.0,
    replicas=REPLICAS,
    shared=True,
    lease_batch=2,
    on_store_failure="local_share",
    store_timeout_ms=100,
)


def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[GatewayLoadSpec, list[Fault]]:
    cut = cut_group_from(
        "cut-gateways-from-kv", "gateway", "kv", START * duration_s, (END - START) * duration_s
    )
    return GatewayLoadSpec(api_key="metered-key", callers=8), [cut]


def judge(data: RunData, mode: Mode) -> Finding:
    assert data.folder is not None
    records = read_journals(data.folder / DECISIONS)
    if not records:
        raise RuntimeError("no gateway decision journals: run gateway experiments on processes")
    verdict = limiter.check(records, SAFE_BOUND)
    outage = [r for r in records if r.degraded]
    worst_outage = max(_per_window(outage).values(), default=0)
    summary = (
        f"{verdict.admitted} admitted, {verdict.refused} refused; worst window "
        f"{verdict.worst_window} admitted against a limit of {LIMIT} "
        f"({verdict.worst_ratio:.2f}x); {len(verdict.over_admissions)} windows over "
        f"the safe bound; {verdict.degraded} decisions without the store, the "
        f"slowest {verdict.max_decision_ms:.0f} ms"
    )
    figures = {
        **verdict.figures(),
        "limit": LIMIT,
        "replicas": REPLICAS,
        "worst_outage_window": worst_outage,
        "outage_ratio": round(worst_outage / LIMIT, 2),
    }
    details = "\n".join(f"- {line}" for line in verdict.over_admissions[:10])
    return Finding(not verdict.valid, summary, details, figures)


def _per_window(records: list[CallRecord]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in records:
        if r.admitted:
            window = int(r.t)
            counts[window] = counts.get(window, 0) + 1
    return counts


EXPERIMENT = Experiment(
    name="limiter-partition",
    title="Gateways that lose their shared limiter must not each admit the whole limit",
    sources=(
        "Stripe, Scaling your API with rate limiters (2017)",
        "Cloudflare, How we built rate limiting capable of scaling to millions of domains (2017)",
        "Envoy global rate limiting; envoyproxy/ratelimit#462: requests waiting ~10 s on an "
        "unreachable Redis",
    ),
    hypothesis=(
        f"{REPLICAS} gateway replicas share one limit of {LIMIT} calls per second, leased "
        "from the KV store. When they lose the store and each falls back to the full limit, "
        f"the tenant gets about {REPLICAS} x {LIMIT} per second; when each falls back to its "
        f"share ({LIMIT // REPLICAS}), the total stays within {LIMIT} per window (leased "
        "plus share in a window where the store was lost or regained), and no decision "
        "waits longer than the store timeout."
    ),
    unsafe=gateway_mode(
        "limiter-partition",
        "unsafe",
        "without the store, each replica admits the whole limit",
        True,
    ),
    safe=gateway_mode(
        "limiter-partition",
        "safe",
        "without the store, each replica admits its share of the limit",
        False,
    ),
    plan=plan,
    judge=judge,
    mesh=lambda mode: (
        MeshStep("cut-gateways-from-kv", "partition-to", "all", "gateway", START, END, peers="kv"),
    ),
    doc="docs/experiments/limiter-partition.md",
    topology=TOPOLOGY,
    workload=gateway_calls.run,
    leader_group="kv",
)
