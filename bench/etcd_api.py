"""etcd's own benchmark tool against faultlab's etcd API and a real etcd, in one run.

    python bench/etcd_api.py [--total 2000] [--clients 1 16 64]

Starts, on this machine and in this run, a 3-member etcd (Debian's etcd-server) and a
3-node faultlab KV cluster, and runs go.etcd.io/etcd/v3/tools/benchmark (built by `make
bench-tools` through bench/etcd-benchmark, its version pinned there) against each with
all three endpoints: put (16-byte keys, 100-byte values), range linearizable and range
serializable, at each client count (one connection per client, up to 16). faultlab twice:
through its Toxiproxy client links, as users reach it, and direct to the nodes' ports, as
the benchmark reaches etcd. Prints a table with faultlab/etcd ratios and writes
bench/results/etcd_api.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "proto")]

from cluster.etcd_peer import etcd_cluster  # noqa: E402
from cluster.launcher import LocalCluster  # noqa: E402
from services.runtime.topology import Group, Topology  # noqa: E402

RESULTS = REPO / "bench" / "results" / "etcd_api.json"
BENCHMARK = REPO / ".tools" / "bin" / "etcd-benchmark"
KEY = "bench-key"
RUN_S = 600


def benchmark(endpoints: str, clients: int, *command: str) -> dict[str, float]:
    """One run of etcd's benchmark tool: requests per second and latency percentiles."""
    conns = min(clients, 16)
    where = [f"--endpoints={endpoints}", f"--conns={conns}", f"--clients={clients}"]
    done = subprocess.run(
        [str(BENCHMARK), *where, *command],
        capture_output=True,
        text=True,
        timeout=RUN_S,
        check=True,
    )
    return parse(done.stdout)


def parse(summary: str) -> dict[str, float]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", summary)
    if rps is None:
        raise RuntimeError(f"no Requests/sec in the benchmark's output:\n{summary}")
    row = {"rps": round(float(rps[1]), 1)}
    for pct in ("50", "99"):
        found = re.search(rf"{pct}% in ([\d.]+) secs", summary)
        if found:
            row[f"p{pct}_ms"] = round(float(found[1]) * 1000, 2)
    return row


def workloads(total: int) -> dict[str, list[str]]:
    return {
        "put": ["put", f"--total={total}", "--key-size=16", "--val-size=100"],
        "range linearizable": ["range", KEY, f"--total={total}", "--consistency=l"],
        "range serializable": ["range", KEY, f"--total={total}", "--consistency=s"],
    }


def run(endpoints: str, total: int, clients: list[int]) -> dict[str, dict[int, Any]]:
    subprocess.run(
        [str(BENCHMARK), f"--endpoints={endpoints}", "put", "--total=1", "--key-size=9"],
        capture_output=True,
        check=True,
        timeout=RUN_S,
    )  # warm both systems' connections up once
    _put_key(endpoints)
    return {
        name: {n: benchmark(endpoints, n, *command) for n in clients}
        for name, command in workloads(total).items()
    }


def _put_key(endpoints: str) -> None:
    """The key the range workloads read (the benchmark's put writes random keys)."""
    subprocess.run(
        ["etcdctl", f"--endpoints={endpoints}", "put", KEY, "v" * 100],
        capture_output=True,
        check=True,
        timeout=30,
        env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--total", type=int, default=2000, help="requests per measurement")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if not BENCHMARK.exists():
        raise SystemExit(f"{BENCHMARK} is missing: run `make bench-tools`")
    with tempfile.TemporaryDirectory() as tmp:
        topology = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
        with etcd_cluster(Path(tmp) / "etcd") as etcd:
            theirs = run(etcd.endpoints, args.total, args.clients)
        with LocalCluster(topology, Path(tmp) / "faultlab") as cluster:
            cluster.wait_for_leader()
            topo = cluster.topology  # with the ports it picked
            links = ",".join(topo.client_addresses("kv"))
            direct = ",".join(topo.listen_address(n.id) for n in topo.nodes)
            ours = run(links, args.total, args.clients)
            ours_direct = run(direct, args.total, args.clients)
    rows = []
    print(
        f"{'workload':20} {'clients':>7} {'etcd rps':>10} {'faultlab rps':>13} {'ratio':>6}"
        f" {'direct rps':>11} {'ratio':>6}"
    )
    for name in theirs:
        for n in args.clients:
            e, f, d = theirs[name][n], ours[name][n], ours_direct[name][n]
            ratio = round(f["rps"] / max(e["rps"], 1), 2)
            direct_ratio = round(d["rps"] / max(e["rps"], 1), 2)
            rows.append(
                {
                    "workload": name,
                    "clients": n,
                    "etcd": e,
                    "faultlab": f,
                    "ratio": ratio,
                    "faultlab_direct": d,
                    "direct_ratio": direct_ratio,
                }
            )
            print(
                f"{name:20} {n:>7} {e['rps']:>10} {f['rps']:>13} {ratio:>6}"
                f" {d['rps']:>11} {direct_ratio:>6}"
            )
    args.out.write_text(json.dumps({"total": args.total, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
