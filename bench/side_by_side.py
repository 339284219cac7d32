"""KV puts beside etcd, in one run, driven by the same Go load generator (ghz).

    python bench/side_by_side.py [--seconds 5] [--inflight 1 16 64]

Starts, on this machine and in this run:
- a 3-member etcd (Debian's etcd-server; fsync on, as always in etcd), puts to its leader;
- a 3-node faultlab KV cluster (fsync=batch), puts to its leader directly and through the
  clients' Toxiproxy link;
- the Python gRPC ceiling: a grpc.aio server on uvloop that answers Ping and does nothing
  (bench/echo_server.py).
Each gets the same ghz workload: `inflight` workers (ghz -c), one connection, 100-byte
values on one 16-byte key. Also the resident memory of each faultlab node, idle and after
the load (its high-water mark).

Prints a table and writes bench/results/side_by_side.json. Needs `ghz` (make bench-tools
installs it into .tools/bin) and `etcd` (apt-get install etcd-server).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from cluster.launcher import LocalCluster
from cluster.ports import free_ports
from cluster.waiting import wait_until
from services.runtime.topology import Group, Topology

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "side_by_side.json"
KEY = b"bench/key-000016"  # 16 bytes
VALUE = b"v" * 100


def tool(name: str) -> str:
    local = REPO / ".tools" / "bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: run `make bench-tools`")
    return found


# -- the systems ----------------------------------------------------------------------------


@contextlib.contextmanager
def etcd_cluster(folder: Path) -> Iterator[str]:
    """Three etcd members; yields the leader's client address (host:port)."""
    etcd = tool("etcd")
    ports = free_ports(6)
    clients, peers = ports[:3], ports[3:]
    initial = ",".join(f"e{i}=http://127.0.0.1:{peers[i]}" for i in range(3))
    procs = []
    try:
        for i in range(3):
            procs.append(subprocess.Popen(
                [etcd, "--name", f"e{i}", "--data-dir", str(folder / f"e{i}"),
                 "--listen-client-urls", f"http://127.0.0.1:{clients[i]}",
                 "--advertise-client-urls", f"http://127.0.0.1:{clients[i]}",
                 "--listen-peer-urls", f"http://127.0.0.1:{peers[i]}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peers[i]}",
                 "--initial-cluster", initial, "--initial-cluster-state", "new",
                 "--initial-cluster-token", "bench", "--logger", "zap",
                 "--log-outputs", str(folder / f"e{i}.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        leader = wait_until(lambda: _etcd_leader(clients), 30, "an etcd leader")
        yield f"127.0.0.1:{leader}"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def _etcd_leader(client_ports: list[int]) -> int | None:
    """The client port of the member that is the leader, from each member's status."""
    for port in client_ports:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v3/maintenance/status",
                                     data=b"{}", method="POST")  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=1) as resp:
                status = json.load(resp)
        except OSError:
            continue
        if status.get("leader") and status["leader"] == status["header"]["member_id"]:
            return port
    return None


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    (port,) = free_ports(1)
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "echo_server.py"), "--port",
                             str(port)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "serving"
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


# -- the load ---------------------------------------------------------------------------------


def ghz(target: str, call: str, proto: Path, data: dict[str, str], inflight: int,
        seconds: float) -> dict[str, float]:  # fmt: skip
    out = subprocess.run(
        [tool("ghz"), "--insecure", "--proto", str(proto), "--import-paths",
         f"{REPO / 'proto'},{REPO / 'bench' / 'protos'}", "--call", call, "-d", json.dumps(data),
         "-c", str(inflight), "-z", f"{seconds}s", "--connections", "1", "-O", "json", target],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    percentiles = {p["percentage"]: p["latency"] / 1e6 for p in report["latencyDistribution"]}
    errors = sum(report.get("statusCodeDistribution", {}).get(k, 0)
                 for k in report.get("statusCodeDistribution", {}) if k != "OK")  # fmt: skip
    return {"rps": round(report["rps"]), "p50_ms": round(percentiles[50], 2),
            "p99_ms": round(percentiles[99], 2), "errors": errors}  # fmt: skip


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--inflight", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = p.parse_args()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    etcd_put = {"key": b64(KEY), "value": b64(VALUE)}
    kv_put = {"key": KEY.decode(), "value": b64(VALUE)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        topology = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
        with (
            etcd_cluster(Path(tmp)) as etcd,
            echo_server() as echo,
            LocalCluster(topology, Path(tmp) / "faultlab") as cluster,
        ):
            leader = cluster.wait_for_leader()
            direct = cluster.topology.listen_address(leader)
            proxied = cluster.topology.client_address(leader)
            pids = cluster.pids()
            idle = {n: rss_mb(pid) for n, pid in pids.items()}
            kv_proto = REPO / "proto" / "faultlab" / "kv" / "v1" / "kv.proto"
            admin_proto = REPO / "proto" / "faultlab" / "admin" / "v1" / "admin.proto"
            for n in args.inflight:
                row = {
                    "inflight": n,
                    "etcd": ghz(etcd, "etcdserverpb.KV.Put", REPO / "bench" / "protos" /
                                "etcd_kv.proto", etcd_put, n, args.seconds),
                    "faultlab_direct": ghz(direct, "faultlab.kv.v1.KV.Put", kv_proto, kv_put,
                                           n, args.seconds),
                    "faultlab_toxiproxy": ghz(proxied, "faultlab.kv.v1.KV.Put", kv_proto,
                                              kv_put, n, args.seconds),
                    "echo": ghz(echo, "faultlab.admin.v1.Admin.Ping", admin_proto, {}, n,
                                args.seconds),
                }  # fmt: skip
                fl = row["faultlab_direct"]["rps"]
                row["ratio_to_etcd"] = round(fl / max(row["etcd"]["rps"], 1), 2)
                row["ratio_to_echo"] = round(fl / max(row["echo"]["rps"], 1), 2)
                rows.append(row)
            peak = {n: rss_mb(pid, "VmHWM") for n, pid in pids.items()}
    results = {"value_bytes": len(VALUE), "seconds": args.seconds, "runs": rows,
               "faultlab_rss_mb": {"idle": idle, "peak": peak}}  # fmt: skip
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'in flight':>9} | {'etcd Put/s':>10} {'p50':>6} | {'faultlab':>8} {'p50':>6} | "
          f"{'via proxy':>9} | {'echo/s':>7} | {'/etcd':>5} {'/echo':>5}")  # fmt: skip
    for r in rows:
        e, f, t, c = r["etcd"], r["faultlab_direct"], r["faultlab_toxiproxy"], r["echo"]
        print(f"{r['inflight']:>9} | {e['rps']:>10,} {e['p50_ms']:>6} | {f['rps']:>8,} "
              f"{f['p50_ms']:>6} | {t['rps']:>9,} | {c['rps']:>7,} | "
              f"{r['ratio_to_etcd']:>5} {r['ratio_to_echo']:>5}")  # fmt: skip
    print(f"faultlab RSS MB idle {idle}, peak {peak}")


if __name__ == "__main__":
    main()
