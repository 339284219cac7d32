"""KV puts beside etcd, in one run, driven by the same Go load generator (ghz).

    python bench/side_by_side.py [--seconds 5] [--inflight 1 16 64]

Starts, on this machine and in this run:
- a 3-member etcd (Debian's etcd-server; fsync on, as always in etcd), puts to its leader;
- a 3-node faultlab KV cluster (fsync=batch) per peer transport (Raft as frames on plain
  TCP, and over gRPC streams: --transports), puts to its leader directly and through the
  clients' Toxiproxy link;
- the Python gRPC ceiling: a grpc.aio server on uvloop that answers Ping and does nothing
  (bench/echo_server.py).
Each gets the same ghz workload: `inflight` workers (ghz -c), one connection, 100-byte
values on one 16-byte key. faultlab's batched path is measured twice: ghz sending KV.Batch
requests of `inflight` puts one at a time (what BatchingKv sends when that many callers
wait together), and the SDK itself (`inflight` Python writers sharing one BatchingKv).
Also the resident memory of each faultlab node, idle and after the load (its high-water
mark), and last, for both systems: kill -9 of the leader -> first acknowledged write.

Prints a table and writes bench/results/side_by_side.json. Needs `ghz` (make bench-tools
installs it into .tools/bin) and `etcd` (apt-get install etcd-server)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvloop
from google.rpc import status_pb2

from cluster.client import BatchingKv, KvClient, SyncKvClient
from cluster.etcd_peer import Etcd, etcd_cluster
from cluster.launcher import LocalCluster
from cluster.ports import free_ports
from services.runtime.config import PEER_TRANSPORTS
from services.runtime.topology import Group, Topology

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "side_by_side.json"
KEY = b"bench/key-000016"  # 16 bytes
VALUE = b"v" * 100
GOOGLEAPIS = Path(status_pb2.__file__).resolve().parent.parent.parent  # google/rpc/status.proto


def tool(name: str) -> str:
    local = REPO / ".tools" / "bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: run `make bench-tools`")
    return found


# -- the systems ----------------------------------------------------------------------------


def _etcd_put(port: int) -> None:
    """One put through etcd's JSON gateway (any member forwards it to the leader)."""
    body = json.dumps({"key": _b64(KEY), "value": _b64(VALUE)}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v3/kv/put", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=0.3) as resp:
        resp.read()


@contextlib.contextmanager
def echo_server(script: str = "echo_server.py") -> Iterator[tuple[str, int]]:
    """The address and pid of an echo server (a script in bench/ taking --port)."""
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / script), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "serving"
        yield f"127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


# -- the load ---------------------------------------------------------------------------------


def ghz(
    target: str, call: str, proto: Path, data: dict[str, str], inflight: int, seconds: float
) -> dict[str, float]:
    out = subprocess.run(
        [
            tool("ghz"),
            "--insecure",
            "--proto",
            str(proto),
            "--import-paths",
            f"{REPO / 'proto'},{REPO / 'bench' / 'protos'},{GOOGLEAPIS}",
            "--call",
            call,
            "-d",
            json.dumps(data),
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
    percentiles = {p["percentage"]: p["latency"] / 1e6 for p in report["latencyDistribution"]}
    errors = sum(
        report.get("statusCodeDistribution", {}).get(k, 0)
        for k in report.get("statusCodeDistribution", {})
        if k != "OK"
    )
    return {
        "rps": round(report["rps"]),
        "p50_ms": round(percentiles[50], 2),
        "p99_ms": round(percentiles[99], 2),
        "errors": errors,
        "seconds": round(report["total"] / 1e9, 2),
    }


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_cpu(pids: dict[str, int], *ghz_args: Any) -> dict[str, Any]:
    """`ghz(*ghz_args)`'s figures plus each process's CPU milliseconds per operation:
    where a system's time goes when the machine's two cores are the limit."""
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    row: dict[str, Any] = dict(ghz(*ghz_args))
    ops = max(row["rps"] * row.get("seconds", 1.0), 1)
    row["cpu_ms_per_op"] = {
        name: round((cpu_s(pid) - before[name]) * 1000 / ops, 3) for name, pid in pids.items()
    }
    return row


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def batched(row: dict[str, Any], ops: int) -> dict[str, Any]:
    """A ghz report of batch requests, in writes: each request carries `ops`."""
    cpu = {name: round(ms / ops, 3) for name, ms in row["cpu_ms_per_op"].items()}
    return {**row, "rps": row["rps"] * ops, "cpu_ms_per_op": cpu}


# -- the SDK's batching path, driven from Python ----------------------------------------------


def sdk_batching(topology: Topology, inflight: int, seconds: float) -> dict[str, float]:
    """`inflight` writers, each putting in a loop through one BatchingKv (KV.Batch)."""
    return uvloop.run(_sdk_batching(topology, inflight, seconds))


async def _sdk_batching(topology: Topology, inflight: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    async with KvClient.for_topology(topology) as kv, BatchingKv(kv) as store:
        await store.put(KEY.decode(), VALUE)  # connected, leader known
        end = time.monotonic() + seconds

        async def writer() -> None:
            while (started := time.monotonic()) < end:
                await store.put(KEY.decode(), VALUE)
                latencies.append(time.monotonic() - started)

        began = time.monotonic()
        await asyncio.gather(*(writer() for _ in range(inflight)))
        elapsed = time.monotonic() - began
    latencies.sort()

    def pick(q: float) -> float:
        return round(latencies[int(q * (len(latencies) - 1))] * 1000, 2)

    return {
        "rps": round(len(latencies) / elapsed),
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "errors": 0,
    }


# -- failover ----------------------------------------------------------------------------------


def first_write_after(kill: Callable[[], object], put: Callable[[], object]) -> float:
    """Seconds from kill -9 of the leader to the first acknowledged write after it."""
    kill()
    killed = time.monotonic()
    while True:
        with contextlib.suppress(Exception):  # no leader yet: try again at once
            put()
            return round(time.monotonic() - killed, 2)


def faultlab_failover(cluster: LocalCluster) -> float:
    leader = cluster.wait_for_leader()
    with SyncKvClient.for_topology(cluster.topology, timeout_s=0.3, attempts=3) as kv:
        kv.put(KEY.decode(), VALUE)
        return first_write_after(lambda: cluster.kill(leader), lambda: kv.put(KEY.decode(), VALUE))


def etcd_failover(etcd: Etcd) -> float:
    survivors: list[int] = []
    turn = itertools.count()

    def kill() -> None:
        survivors.extend(etcd.kill_leader())

    return first_write_after(kill, lambda: _etcd_put(survivors[next(turn) % len(survivors)]))


# -- the run -----------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--inflight", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument(
        "--transports", nargs="+", default=list(PEER_TRANSPORTS), choices=PEER_TRANSPORTS
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = p.parse_args()
    etcd_put = {"key": _b64(KEY), "value": _b64(VALUE)}
    kv_put = {"key": KEY.decode(), "value": _b64(VALUE)}
    kv_proto = REPO / "proto" / "faultlab" / "kv" / "v1" / "kv.proto"
    admin_proto = REPO / "proto" / "faultlab" / "admin" / "v1" / "admin.proto"
    etcd_proto = REPO / "bench" / "protos" / "etcd_kv.proto"
    rows = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        topology = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
        etcd = stack.enter_context(etcd_cluster(Path(tmp)))
        echo, echo_pid = stack.enter_context(echo_server())
        # One KV cluster per peer transport, side by side in this run.
        clusters = {
            t: stack.enter_context(
                LocalCluster(topology, Path(tmp) / f"faultlab-{t}", peer_transport=t)
            )
            for t in args.transports
        }
        etcd_leader = f"127.0.0.1:{etcd.leader_port()}"
        leaders = {t: c.wait_for_leader() for t, c in clusters.items()}
        pids = {t: c.pids() for t, c in clusters.items()}
        idle = {t: {n: rss_mb(pid) for n, pid in pids[t].items()} for t in clusters}
        for n in args.inflight:
            batch = {"ops": [{"put": kv_put}] * n}
            row: dict[str, Any] = {
                "inflight": n,
                "etcd": with_cpu(
                    etcd.pids(),
                    etcd_leader,
                    "etcdserverpb.KV.Put",
                    etcd_proto,
                    etcd_put,
                    n,
                    args.seconds,
                ),
                "echo": with_cpu(
                    {"echo": echo_pid},
                    echo,
                    "faultlab.admin.v1.Admin.Ping",
                    admin_proto,
                    {},
                    n,
                    args.seconds,
                ),
                "faultlab": {},
            }
            for t, cluster in clusters.items():
                direct = cluster.topology.listen_address(leaders[t])
                proxied = cluster.topology.client_address(leaders[t])
                row["faultlab"][t] = {
                    "leader": leaders[t],
                    "direct": with_cpu(
                        pids[t],
                        direct,
                        "faultlab.kv.v1.KV.Put",
                        kv_proto,
                        kv_put,
                        n,
                        args.seconds,
                    ),
                    "toxiproxy": ghz(
                        proxied, "faultlab.kv.v1.KV.Put", kv_proto, kv_put, n, args.seconds
                    ),
                    # `n` writes in flight as one Batch request of n at a time, as the
                    # SDK's BatchingKv sends them when n callers wait together.
                    "batch": batched(
                        with_cpu(
                            pids[t],
                            direct,
                            "faultlab.kv.v1.KV.Batch",
                            kv_proto,
                            batch,
                            1,
                            args.seconds,
                        ),
                        n,
                    ),
                    "sdk_batching": sdk_batching(cluster.topology, n, args.seconds),
                }
            etcd_rps = max(row["etcd"]["rps"], 1)
            for f in row["faultlab"].values():
                f["ratio_to_etcd"] = round(f["direct"]["rps"] / etcd_rps, 2)
                f["p50_to_etcd"] = round(
                    f["direct"]["p50_ms"] / max(row["etcd"]["p50_ms"], 0.001), 2
                )
                f["ratio_to_echo"] = round(f["direct"]["rps"] / max(row["echo"]["rps"], 1), 2)
                f["batch_ratio_to_etcd"] = round(f["batch"]["rps"] / etcd_rps, 2)
                f["sdk_ratio_to_etcd"] = round(f["sdk_batching"]["rps"] / etcd_rps, 2)
            rows.append(row)
        peak = {t: {n: rss_mb(pid, "VmHWM") for n, pid in pids[t].items()} for t in clusters}
        failover = {f"faultlab_{t}_s": faultlab_failover(c) for t, c in clusters.items()}
        failover["etcd_s"] = etcd_failover(etcd)
    results = {
        "value_bytes": len(VALUE),
        "seconds": args.seconds,
        "runs": rows,
        "faultlab_rss_mb": {"idle": idle, "peak": peak},
        "kill_leader_to_first_write": failover,
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(rows)
    print(f"faultlab RSS MB idle {idle}, peak {peak}")
    for r in rows:
        cpu = {"etcd": r["etcd"]["cpu_ms_per_op"], "echo": r["echo"]["cpu_ms_per_op"]}
        for t, f in r["faultlab"].items():
            cpu[t] = f["direct"]["cpu_ms_per_op"]
            cpu[f"{t} batch"] = f["batch"]["cpu_ms_per_op"]
        print(f"CPU ms per op at {r['inflight']} in flight: {cpu}")
    print(f"kill -9 of the leader -> first acknowledged write: {failover}")


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'in flight':>9} | {'etcd Put/s':>10} {'p50':>6} | {'echo/s':>7} | {'transport':>9} | "
        f"{'Put/s':>7} {'p50':>6} {'p99':>6} | {'via proxy':>9} | {'Batch':>7} | {'SDK':>7} | "
        f"{'/etcd':>5} {'p50/etcd':>8} {'/echo':>5} {'leader ms':>9}"
    )
    for r in rows:
        e, c = r["etcd"], r["echo"]
        for t, f in r["faultlab"].items():
            d = f["direct"]
            print(
                f"{r['inflight']:>9} | {e['rps']:>10,} {e['p50_ms']:>6} | {c['rps']:>7,} | "
                f"{t:>9} | {d['rps']:>7,} {d['p50_ms']:>6} {d['p99_ms']:>6} | "
                f"{f['toxiproxy']['rps']:>9,} | {f['batch']['rps']:>7,} | "
                f"{f['sdk_batching']['rps']:>7,} | {f['ratio_to_etcd']:>5} "
                f"{f['p50_to_etcd']:>8} {f['ratio_to_echo']:>5} "
                f"{d['cpu_ms_per_op'][f['leader']]:>9}"
            )


if __name__ == "__main__":
    main()
