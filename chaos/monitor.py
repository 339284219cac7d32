"""Samples every node's role and term in each Raft group while an experiment runs: the
record of elections."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from faultlab.admin.v1 import admin_pb2

from chaos.history import History
from cluster import admin_client
from services.raft.role import Role
from services.runtime.topology import Topology


@dataclass(frozen=True)
class Sample:
    time_s: float
    node: str
    role: str  # Role.label: "leader", "pre-candidate", ...
    term: int
    group: str = "kv"  # the Raft group


async def monitor_terms(
    topology: Topology, history: History, samples: list[Sample], interval_s: float = 0.1
) -> None:
    """Run until cancelled; down or unreachable nodes are simply not sampled."""
    while True:
        for node in topology.nodes:
            try:
                s = await asyncio.to_thread(
                    admin_client.fetch_status, topology.listen_address(node.id), 0.3
                )
            except grpc.RpcError:
                continue
            now_s = history.now_ns() / 1e9
            samples += [
                Sample(now_s, node.id, Role(g.role).label, g.term, g.group) for g in s.groups
            ]
        await asyncio.sleep(interval_s)


def sample(time_s: float, node: str, view: admin_pb2.RaftGroupStatus) -> Sample:
    return Sample(time_s, node, Role(view.role).label, view.term, view.group)


def save(samples: list[Sample], path: Path) -> None:
    path.write_text("".join(json.dumps(asdict(s)) + "\n" for s in samples))
