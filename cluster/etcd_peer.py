"""A real etcd beside faultlab: Debian's etcd-server, members on free ports of 127.0.0.1,
each with its own data folder and log. The bench measures against it (bench/), and the
tests of the etcd API run the same clients against both (tests/integration/)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cluster.ports import free_ports
from cluster.waiting import wait_until

START_S = 30.0


@dataclass
class Etcd:
    procs: list[subprocess.Popen[bytes]]
    client_ports: list[int]
    killed: set[int] = field(default_factory=set)  # members killed on purpose

    @property
    def endpoints(self) -> str:
        """For etcdctl's --endpoints."""
        return ",".join(f"127.0.0.1:{p}" for p in self.client_ports)

    def pids(self) -> dict[str, int]:
        return {f"e{i}": p.pid for i, p in enumerate(self.procs)}

    def leader_port(self) -> int:
        def found() -> int | None:
            for i, p in enumerate(self.procs):
                if i not in self.killed and p.poll() is not None:
                    raise RuntimeError(f"etcd member e{i} exited with code {p.returncode}")
            return leader(self.client_ports)

        return wait_until(found, START_S, "an etcd leader")

    def kill_leader(self) -> list[int]:
        """kill -9 the leader; the survivors' client ports."""
        port = self.leader_port()
        i = self.client_ports.index(port)
        self.killed.add(i)
        self.procs[i].kill()
        self.procs[i].wait()
        return [p for p in self.client_ports if p != port]


def etcd_binary() -> str | None:
    return shutil.which("etcd")


@contextlib.contextmanager
def etcd_cluster(folder: Path, members: int = 3) -> Iterator[Etcd]:
    """`members` etcd members, each fsyncing as etcd always does; stopped on the way out."""
    etcd = etcd_binary()
    if etcd is None:
        raise FileNotFoundError("etcd is not installed (Debian: apt-get install etcd-server)")
    folder.mkdir(parents=True, exist_ok=True)
    ports = free_ports(2 * members)
    clients, peers = ports[:members], ports[members:]
    initial = ",".join(f"e{i}=http://127.0.0.1:{peers[i]}" for i in range(members))
    procs = []
    try:
        for i in range(members):
            procs.append(
                subprocess.Popen(
                    [
                        etcd,
                        *("--name", f"e{i}", "--data-dir", str(folder / f"e{i}")),
                        *("--listen-client-urls", f"http://127.0.0.1:{clients[i]}"),
                        *("--advertise-client-urls", f"http://127.0.0.1:{clients[i]}"),
                        *("--listen-peer-urls", f"http://127.0.0.1:{peers[i]}"),
                        *("--initial-advertise-peer-urls", f"http://127.0.0.1:{peers[i]}"),
                        *("--initial-cluster", initial, "--initial-cluster-state", "new"),
                        *("--initial-cluster-token", "faultlab-peer"),
                        *("--logger", "zap", "--log-outputs", str(folder / f"e{i}.log")),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        cluster = Etcd(procs, clients)
        cluster.leader_port()
        yield cluster
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def leader(client_ports: list[int]) -> int | None:
    """The client port of the member that is the leader, from each member's status."""
    for port in client_ports:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v3/maintenance/status", data=b"{}", method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=1) as resp:
                status = json.load(resp)
        except OSError:
            continue
        if status.get("leader") and status["leader"] == status["header"]["member_id"]:
            return port
    return None
