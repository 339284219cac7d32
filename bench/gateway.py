"""The gateway's cost: the latency it adds to a KV put over calling the leader, at 1 and
64 in flight, measured side by side in one run with ghz (Go), and the admission decisions
per second one process makes (the limiter chain alone, in-process).

    python bench/gateway.py [--seconds 5] [--inflight 1 64]

Three paths to the same leader of a 3-node KV group (fsync=batch):
- leader_direct:    ghz -> kvN                                   (no hop)
- leader_toxiproxy: ghz -> client_to_kvN -> kvN                  (one Toxiproxy hop)
- gateway:          ghz -> gateway1 -> gateway1_to_kvN -> kvN    (the gateway + one hop)
`added` is gateway minus leader_toxiproxy: both cross Toxiproxy once, so the difference
is the gateway's own work (admission, forwarding, a second gRPC hop in Python). `echo`,
a bare Python grpc.aio server answering Ping, is the floor one Python hop costs.

Writes bench/results/gateway.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

# `python bench/gateway.py` puts bench/ first on sys.path: the ghz helpers are shared.
from side_by_side import GOOGLEAPIS, KEY, REPO, VALUE, _b64, echo_server, ghz, tool

from cluster.launcher import LocalCluster
from services.gateway.admission import Admission
from services.gateway.config import parse
from services.gateway.shedder import Priority
from services.runtime.topology import Group, Topology

RESULTS = Path(__file__).parent / "results" / "gateway.json"
KV_PROTO = REPO / "proto" / "faultlab" / "kv" / "v1" / "kv.proto"
ADMIN_PROTO = REPO / "proto" / "faultlab" / "admin" / "v1" / "admin.proto"


def ghz_put(target: str, inflight: int, seconds: float, api_key: str | None) -> dict[str, float]:
    metadata = ["--metadata", json.dumps({"authorization": f"Bearer {api_key}"})] if api_key else []
    out = subprocess.run(
        [
            tool("ghz"),
            "--insecure",
            "--proto",
            str(KV_PROTO),
            "--import-paths",
            f"{REPO / 'proto'},{GOOGLEAPIS}",
            "--call",
            "faultlab.kv.v1.KV.Put",
            "-d",
            json.dumps({"key": KEY.decode(), "value": _b64(VALUE)}),
            *metadata,
            "-c",
            str(inflight),
            "-z",
            f"{seconds}s",
            "--connections",
            "1",
            "-O",
            "json",
            target,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    ms = {p["percentage"]: p["latency"] / 1e6 for p in report["latencyDistribution"]}
    codes = report.get("statusCodeDistribution", {})
    return {
        "rps": round(report["rps"]),
        "p50_ms": round(ms[50], 3),
        "p99_ms": round(ms[99], 3),
        "errors": sum(v for k, v in codes.items() if k != "OK"),
    }


# A tenant whose limits the load never reaches: the bench measures the work, not refusals.
BENCH_TENANTS = """
[shedding]
capacity = 100000

[tenants.bench]
keys = ["bench-key"]
allow = ["faultlab.kv.v1.KV/*"]
concurrency = 10000
limit = { algorithm = "token_bucket", rate_per_s = 1000000000, burst = 1000000000 }
"""


async def decisions_per_s(seconds: float) -> int:
    """Admission alone (authenticate, allow, token bucket, concurrency, shedder)."""
    admission = Admission(parse(tomllib.loads(BENCH_TENANTS)), time.monotonic)
    n, started = 0, time.monotonic()
    while time.monotonic() < started + seconds:
        for _ in range(1000):
            tenant = admission.authenticate("Bearer bench-key")
            async with admission.admit(tenant, "/faultlab.kv.v1.KV/Get", Priority.DEFAULT):
                pass
        n += 1000
    return round(n / (time.monotonic() - started))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--inflight", type=int, nargs="+", default=[1, 64])
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        topology = Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("gateway", 1)))
        config = Path(tmp) / "tenants.toml"
        config.write_text(BENCH_TENANTS)
        env = {"FAULTLAB_GATEWAY_CONFIG": str(config)}
        with (
            LocalCluster(topology, Path(tmp) / "faultlab", node_env=env) as cluster,
            echo_server() as (echo, _),
        ):
            leader = cluster.wait_for_leader()
            paths = {
                "leader_direct": (cluster.topology.listen_address(leader), None),
                "leader_toxiproxy": (cluster.topology.client_address(leader), None),
                "gateway": (cluster.topology.listen_address("gateway1"), "bench-key"),
            }
            ghz_put(paths["gateway"][0], 1, 0.5, "bench-key")  # warm: the gateway finds the leader
            for n in args.inflight:
                row: dict[str, Any] = {"inflight": n}
                for name, (target, key) in paths.items():
                    row[name] = ghz_put(target, n, args.seconds, key)
                # One bare Python grpc.aio round trip: the gateway adds about one of these.
                row["echo"] = ghz(
                    echo, "faultlab.admin.v1.Admin.Ping", ADMIN_PROTO, {}, n, args.seconds
                )
                row["added_p50_ms"] = round(
                    row["gateway"]["p50_ms"] - row["leader_toxiproxy"]["p50_ms"], 3
                )
                row["added_p99_ms"] = round(
                    row["gateway"]["p99_ms"] - row["leader_toxiproxy"]["p99_ms"], 3
                )
                rows.append(row)
    per_s = asyncio.run(decisions_per_s(min(args.seconds, 2.0)))
    results = {"seconds": args.seconds, "runs": rows, "admission_decisions_per_s": per_s}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for r in rows:
        print(
            f"{r['inflight']:>3} in flight: "
            + ", ".join(
                f"{k} {r[k]['rps']}/s p50 {r[k]['p50_ms']} p99 {r[k]['p99_ms']} ms"
                for k in ("leader_direct", "leader_toxiproxy", "gateway", "echo")
            )
            + f"; added p50 {r['added_p50_ms']} ms, p99 {r['added_p99_ms']} ms"
        )
    print(f"admission decisions/s (one process): {results['admission_decisions_per_s']}")


if __name__ == "__main__":
    main()
