"""How long a CLI command takes, start to exit, against a running 3-node KV cluster: the
wall time a person waits. Beside it, in the same run, the floor (`python -c pass`: the
interpreter alone) and etcdctl's `get` against a 3-member etcd, when etcdctl is installed
(Debian's etcd-client).

    python bench/cli.py [--runs 20]

Each command runs `--runs` times, one after another; min, median and max in seconds.
Writes bench/results/cli.json. The goal (issue 30): `faultlab --help`, `faultlab kv get`
and `faultlab status` at or under 0.4 s on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cluster import state
from cluster.etcd_peer import etcd_cluster
from cluster.launcher import LocalCluster
from services.runtime.topology import Group, Topology

RESULTS = Path(__file__).parent / "results" / "cli.json"
FAULTLAB = [sys.executable, "-m", "cluster"]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "faultlab --help": [*FAULTLAB, "--help"],
    "faultlab kv put": [*FAULTLAB, "kv", "put", "greeting", "hello"],
    "faultlab kv get": [*FAULTLAB, "kv", "get", "greeting"],
    "faultlab status": [*FAULTLAB, "status"],
    "faultlab lock --help": [*FAULTLAB, "lock", "--help"],
}


def timed(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        seconds.append(time.perf_counter() - started)
    return {
        "min_s": round(min(seconds), 3),
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
    }


def etcdctl_get(runs: int, folder: Path) -> dict[str, float] | None:
    etcdctl = shutil.which("etcdctl")
    if etcdctl is None or shutil.which("etcd") is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)  # etcd writes its logs there
    with etcd_cluster(folder) as etcd:
        endpoint = f"127.0.0.1:{etcd.leader_port()}"
        base = [etcdctl, "--endpoints", endpoint]
        subprocess.run([*base, "put", "greeting", "hello"], check=True, capture_output=True)
        return timed([*base, "get", "greeting"], runs, dict(os.environ))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    topology = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(topology, Path(tmp) / "run") as c:
        c.wait_for_leader()
        home = Path(tmp) / "home"
        env = {**os.environ, state.STATE_DIR_ENV: str(home)}
        os.environ[state.STATE_DIR_ENV] = str(home)
        state.write(
            state.ClusterState(
                supervisor_pid=os.getpid(),
                run_dir=str(c.run_dir),
                topology_path=str(c.topology_path),
                toxiproxy_api=c.toxiproxy_api,
            )
        )
        for name, argv in COMMANDS.items():
            results[name] = timed(argv, args.runs, env)
            print(f"{name:24} {results[name]}")
        peer = etcdctl_get(args.runs, Path(tmp) / "etcd")
        if peer is not None:
            results["etcdctl get"] = peer
            print(f"{'etcdctl get':24} {peer}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": args.runs, "commands": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
