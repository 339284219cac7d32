"""What the page shows, read from the cluster: every node's admin status (one long-lived
channel per node, all asked at once each turn), every link as Toxiproxy holds it, and each
node's process as its backend sees it. One `Snapshot` per turn, as plain JSON."""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
from faultlab.admin.v1 import admin_pb2, admin_pb2_grpc

from chaos.disk.control import DiskControlError
from chaos.disk.finding import disk_controls
from chaos.net import cut_of
from cluster import admin_client
from cluster.backend import ProcessState, Run
from cluster.cli.disk import faults_text
from cluster.cli.node import process_states
from cluster.clocks import node_clocks
from cluster.state import ClusterState
from services.raft.role import Role
from services.runtime import tls
from services.runtime.topology import Topology

STATUS_TIMEOUT_S = 0.5
# Asking the Docker engine how each container is costs far more than asking the local
# supervisor: a compose cluster's process states are read at most this often.
COMPOSE_PROCESSES_EVERY_S = 1.0
Snapshot = dict[str, Any]


class Poller:
    def __init__(self, st: ClusterState) -> None:
        self.st = st
        self.topology: Topology = st.topology()
        self._channels = {
            n.id: tls.aio_channel(self.topology.listen_address(n.id)) for n in self.topology.nodes
        }
        self._toxiproxy = httpx.AsyncClient(base_url=f"http://{st.toxiproxy_api}", timeout=2.0)
        self._processes_every_s = COMPOSE_PROCESSES_EVERY_S if st.on_docker else 0.0
        self._processes_read: tuple[float, dict[str, ProcessState] | str] | None = None

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        await self._toxiproxy.aclose()

    async def snapshot(self) -> Snapshot:
        processes, statuses, proxies = await asyncio.gather(
            asyncio.to_thread(self._processes),
            self._statuses(),
            self._proxies(),
        )
        return {
            "time_s": time.time(),
            "problems": _problems(processes, statuses, proxies),
            "nodes": [self._node(n.id, n.group, processes, statuses) for n in self.topology.nodes],
            "groups": _groups(statuses),
            "links": _links(self.topology, proxies),
        }

    def devices(self) -> dict[str, Any]:
        """The clocks and lazy disks, where the cluster runs on them (blocking: a thread)."""
        now = time.time()
        clocks = {n: c.state().describe(now) for n, c in node_clocks(Path(self.st.run_dir)).items()}
        disks: dict[str, Any] = {}
        for node, control in disk_controls(Path(self.st.run_dir)).items():
            try:
                s = control.status()
            except DiskControlError as e:
                disks[node] = {"error": str(e)}
                continue
            disks[node] = {
                "unsynced_bytes": s["unsynced_bytes"],
                "unsynced_entries": len(s["unsynced_entries"]),
                "faults": faults_text(s["faults"]),
                "power_cuts": s["counters"]["power_cuts"],
            }
        return {"clocks": clocks, "disks": disks}

    def _processes(self) -> dict[str, ProcessState] | str:
        now = time.monotonic()
        if self._processes_read and now - self._processes_read[0] < self._processes_every_s:
            return self._processes_read[1]
        self._processes_read = (now, self._read_processes())
        return self._processes_read[1]

    def _read_processes(self) -> dict[str, ProcessState] | str:
        try:
            return process_states(self.st)
        except Exception as e:  # shown on the page; the poll goes on
            return f"the backend cannot say how the processes are: {e}"

    async def _statuses(self) -> dict[str, admin_pb2.NodeStatus | str]:
        async def one(node_id: str) -> admin_pb2.NodeStatus | str:
            stub = admin_pb2_grpc.AdminStub(self._channels[node_id])
            try:
                status: admin_pb2.NodeStatus = await stub.GetStatus(
                    admin_pb2.GetStatusRequest(), timeout=STATUS_TIMEOUT_S
                )
                return status
            except grpc.aio.AioRpcError as e:
                return e.code().name

        ids = list(self._channels)
        return dict(zip(ids, await asyncio.gather(*(one(n) for n in ids)), strict=True))

    async def _proxies(self) -> dict[str, Any] | str:
        try:
            answer = await self._toxiproxy.get("/proxies")
            answer.raise_for_status()
            found: dict[str, Any] = answer.json()
            return found
        except httpx.HTTPError as e:
            return f"Toxiproxy does not answer: {e}"

    def _node(
        self,
        node_id: str,
        group: str,
        processes: dict[str, ProcessState] | str,
        statuses: dict[str, admin_pb2.NodeStatus | str],
    ) -> dict[str, Any]:
        process = processes.get(node_id) if isinstance(processes, dict) else None
        status = statuses.get(node_id)
        answered = isinstance(status, admin_pb2.NodeStatus)
        return {
            "id": node_id,
            "group": group,
            "run": str(process.run) if process else "unknown",
            "exit_code": process.exit_code if process and process.run is Run.STOPPED else None,
            "serving": answered,
            "error": None if answered else str(status),
            "pid": status.pid if isinstance(status, admin_pb2.NodeStatus) else None,
            "peers": {p.node_id: p.reachable for p in status.peers}
            if isinstance(status, admin_pb2.NodeStatus)
            else {},
        }


def _problems(
    processes: dict[str, ProcessState] | str,
    statuses: dict[str, admin_pb2.NodeStatus | str],
    proxies: dict[str, Any] | str,
) -> list[str]:
    """What the page says above everything: the cluster, or a part of it, is not there."""
    found = [x for x in (processes, proxies) if isinstance(x, str)]
    if statuses and all(isinstance(s, str) for s in statuses.values()):
        found.append("no node answers: the cluster went away (`faultlab up` starts one)")
    return found


def _groups(statuses: dict[str, admin_pb2.NodeStatus | str]) -> dict[str, Any]:
    """Each Raft group: its members as each sees itself, and the leader a majority of its
    voters follow in its term (`admin_client.agreed_leader`, as `faultlab status`)."""
    groups: dict[str, dict[str, Any]] = {}
    for node_id, status in statuses.items():
        if not isinstance(status, admin_pb2.NodeStatus):
            continue
        for g in status.groups:
            entry = groups.setdefault(g.group, {"members": [], "leader": None})
            entry["members"].append(
                {
                    "node": node_id,
                    "role": _role(g.role),
                    "term": g.term,
                    "leader": g.leader_id,
                    "commit": g.commit_index,
                    "applied": g.applied_index,
                    "last_index": g.last_index,
                    "voters": list(g.voters),
                }
            )
    for name, entry in groups.items():
        views = {
            node_id: view
            for node_id, status in statuses.items()
            if isinstance(status, admin_pb2.NodeStatus)
            and (view := admin_client.group_view(status, name)) is not None
        }
        # A view that names no voters: count the members that answered.
        entry["leader"] = admin_client.agreed_leader(views, functools.partial(_count, views))
    return groups


def _count(views: dict[str, admin_pb2.RaftGroupStatus], node_id: str) -> int:
    return len(views)


def _role(value: int) -> str:
    return Role(value).label if value in Role._value2member_map_ else "unknown"


def _links(topology: Topology, proxies: dict[str, Any] | str) -> list[dict[str, Any]]:
    out = []
    for link in topology.links:
        proxy = proxies.get(link.name, {}) if isinstance(proxies, dict) else {}
        toxics = proxy.get("toxics", [])
        cut = cut_of(proxy)
        latency = next(
            (t["attributes"]["latency"] for t in toxics if t.get("type") == "latency"), 0
        )
        bandwidth = next(
            (t["attributes"]["rate"] for t in toxics if t.get("type") == "bandwidth"), 0
        )
        out.append(
            {
                "name": link.name,
                "src": link.src,
                "dst": link.dst,
                "listener": link.listener,
                "cut": cut.value if cut else None,
                "latency_ms": latency,
                "bandwidth_kb_s": bandwidth,
                "known": bool(proxy),
            }
        )
    return out
