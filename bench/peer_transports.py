"""Raft's two peer transports, head to head: a 3-node KV cluster with each (frames on plain
TCP, gRPC streams), both up at once, unary puts with ghz straight to each leader,
alternating transports round by round so the machine's drift hits both alike.

    python bench/peer_transports.py [--rounds 3] [--seconds 4] [--inflight 1 64]

Per round, in-flight level and transport: puts/s, p50 and p99, and each node's CPU
milliseconds per put (the leader's and the followers'). Writes
bench/results/peer_transports.json. `bench/side_by_side.py` has both beside etcd.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

# `python bench/peer_transports.py` puts bench/ first on sys.path: the ghz helpers are shared.
from side_by_side import KEY, REPO, VALUE, _b64, with_cpu

from cluster.launcher import LocalCluster
from services.runtime.config import PEER_TRANSPORTS
from services.runtime.topology import Group, Topology

RESULTS = Path(__file__).parent / "results" / "peer_transports.json"
KV_PROTO = REPO / "proto" / "faultlab" / "kv" / "v1" / "kv.proto"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--inflight", type=int, nargs="+", default=[1, 64])
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    put = {"key": KEY.decode(), "value": _b64(VALUE)}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        topology = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
        clusters = {
            t: stack.enter_context(LocalCluster(topology, Path(tmp) / t, peer_transport=t))
            for t in PEER_TRANSPORTS
        }
        leaders = {t: c.wait_for_leader() for t, c in clusters.items()}
        for round_ in range(1, args.rounds + 1):
            for n in args.inflight:
                for t, cluster in clusters.items():
                    target = cluster.topology.listen_address(leaders[t])
                    row = with_cpu(
                        cluster.pids(),
                        target,
                        "faultlab.kv.v1.KV.Put",
                        KV_PROTO,
                        put,
                        n,
                        args.seconds,
                    )
                    cpu = row.pop("cpu_ms_per_op")
                    followers = [v for k, v in cpu.items() if k not in (leaders[t], "toxiproxy")]
                    rows.append(
                        {
                            "round": round_,
                            "inflight": n,
                            "transport": t,
                            **row,
                            "leader_cpu_ms_per_put": cpu[leaders[t]],
                            "follower_cpu_ms_per_put": followers,
                            "toxiproxy_cpu_ms_per_put": cpu["toxiproxy"],
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"seconds": args.seconds, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
