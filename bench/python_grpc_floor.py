"""The floor under issue 27's goals: what a Python gRPC server costs per call on this
machine when it does nothing. Two echo servers answering an empty Ping, grpc.aio on
uvloop (bench/echo_server.py, how every faultlab node serves) and grpclib on uvloop
(bench/echo_grpclib.py), the same ghz load on each, alternating round by round so the
machine's drift hits both alike.

    python bench/python_grpc_floor.py [--rounds 3] [--seconds 3] [--inflight 1 64]

Per round, in-flight level and server: calls/s, p50, p99 and the server's CPU
milliseconds per call. Writes bench/results/python_grpc_floor.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

# `python bench/python_grpc_floor.py` puts bench/ first on sys.path.
from side_by_side import REPO, echo_server, with_cpu

RESULTS = Path(__file__).parent / "results" / "python_grpc_floor.json"
ADMIN_PROTO = REPO / "proto" / "faultlab" / "admin" / "v1" / "admin.proto"
SERVERS = {"grpc.aio": "echo_server.py", "grpclib": "echo_grpclib.py"}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--inflight", type=int, nargs="+", default=[1, 64])
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(echo_server(script)) for name, script in SERVERS.items()
        }
        for round_ in range(1, args.rounds + 1):
            for n in args.inflight:
                for name, (target, pid) in servers.items():
                    row = with_cpu(
                        {name: pid},
                        target,
                        "faultlab.admin.v1.Admin.Ping",
                        ADMIN_PROTO,
                        {},
                        n,
                        args.seconds,
                    )
                    cpu = row.pop("cpu_ms_per_op")[name]
                    rows.append(
                        {
                            "round": round_,
                            "inflight": n,
                            "server": name,
                            **row,
                            "cpu_ms_per_call": cpu,
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"seconds": args.seconds, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
