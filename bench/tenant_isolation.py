"""Tenant isolation at the gateway: a quiet tenant's admitted rate and latency alone, then
beside a noisy tenant sending ten times its own limit, in the same run.

    python bench/tenant_isolation.py [--seconds 5]

Both tenants have the same token bucket (20/s, burst 20) and call KV Get (stale) through
one gateway in front of three KV nodes; the quiet one at half its limit, the noisy one at
ten times its own, both open loop (each call goes out on schedule, whatever the answers).
The bound (issue 30): the quiet tenant keeps every admitted call, and its p99 with the
neighbour stays within 2x of its p99 alone. Writes bench/results/tenant_isolation.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from chaos.tenant_load import Answer, Tenant, neighbours
from cluster.client.gateway import gateway_addresses
from cluster.launcher import LocalCluster
from services.runtime.topology import Group, Topology

RESULTS = Path(__file__).parent / "results" / "tenant_isolation.json"
RATE = 20.0
TENANTS = "\n".join(
    f"""
[tenants.{name}]
keys = ["{name}-key"]
allow = ["faultlab.kv.v1.KV/Get"]
limit = {{ algorithm = "token_bucket", rate_per_s = {RATE}, burst = 20 }}
"""
    for name in ("quiet", "noisy")
)
QUIET = Tenant("quiet-key", rate_per_s=RATE / 2)
NOISY = Tenant("noisy-key", rate_per_s=10 * RATE)
P99_BOUND = 2.0


def figures(answers: list[Answer], seconds: float) -> dict[str, Any]:
    ms = sorted(a.latency_s * 1000 for a in answers if a.admitted)
    cuts = statistics.quantiles(ms, n=100) if len(ms) >= 2 else [0.0] * 99
    return {
        "sent": len(answers),
        "admitted": len(ms),
        "admitted_per_s": round(len(ms) / seconds, 1),
        "p50_ms": round(cuts[49], 2),
        "p99_ms": round(cuts[98], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "tenants.toml"
        config.write_text(TENANTS)
        topology = Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("gateway", 1)))
        env = {"FAULTLAB_GATEWAY_CONFIG": str(config)}
        with LocalCluster(topology, Path(tmp) / "run", node_env=env) as cluster:
            cluster.wait_for_leader()
            address = next(iter(gateway_addresses(cluster.topology).values()))
            asyncio.run(neighbours(address, QUIET, None, 1.0))  # connections, caches
            alone, _ = asyncio.run(neighbours(address, QUIET, None, args.seconds))
            beside, noisy = asyncio.run(neighbours(address, QUIET, NOISY, args.seconds))
    result: dict[str, Any] = {
        "quiet_alone": figures(alone, args.seconds),
        "quiet_beside_noisy": figures(beside, args.seconds),
        "noisy": figures(noisy, args.seconds),
    }
    result["p99_ratio"] = round(
        result["quiet_beside_noisy"]["p99_ms"] / max(result["quiet_alone"]["p99_ms"], 1e-9), 2
    )
    result["p99_bound"] = P99_BOUND
    for name, row in result.items():
        print(f"{name:20} {row}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
