"""Reading nodes' admin status directly, bypassing Toxiproxy.

The observation plane must not be disturbed by the faults it observes: status is read
from each node's own listen address, never through a link that the chaos module may cut.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor

import grpc
from faultlab.admin.v1 import admin_pb2, admin_pb2_grpc

from cluster.waiting import WaitTimeout, wait_until
from services.raft.role import Role
from services.runtime import tls
from services.runtime.topology import Topology


def fetch_status(address: str, timeout_s: float = 1.0) -> admin_pb2.NodeStatus:
    with tls.sync_channel(address) as channel:
        reply: admin_pb2.NodeStatus = admin_pb2_grpc.AdminStub(channel).GetStatus(
            admin_pb2.GetStatusRequest(), timeout=timeout_s
        )
        return reply


def fetch_all(
    topology: Topology, timeout_s: float = 1.0, only: Collection[str] | None = None
) -> dict[str, admin_pb2.NodeStatus | str]:
    """Each node's status (of the nodes in `only`, when given), or why it could not be read.
    All asked at once: one node that does not answer costs its timeout once, not per node
    after it, and `faultlab status` on eleven nodes pays one round trip, not eleven."""
    ids = [n.id for n in topology.nodes if only is None or n.id in only]

    def one(node_id: str) -> admin_pb2.NodeStatus | str:
        try:
            return fetch_status(topology.listen_address(node_id), timeout_s)
        except grpc.RpcError as e:
            return f"{e.code().name}"

    if not ids:
        return {}
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        return dict(zip(ids, pool.map(one, ids), strict=True))


def reachability(topology: Topology, timeout_s: float = 1.0) -> dict[tuple[str, str], bool | None]:
    """(src, dst) -> whether src's latest probe reached dst; None when src is down."""
    statuses = fetch_all(topology, timeout_s)
    out: dict[tuple[str, str], bool | None] = {}
    for src, status in statuses.items():
        for peer in topology.peers(src):
            if isinstance(status, str):
                out[(src, peer.id)] = None
            else:
                out[(src, peer.id)] = next(
                    (p.reachable for p in status.peers if p.node_id == peer.id), None
                )
    return out


def group_view(status: admin_pb2.NodeStatus, group: str) -> admin_pb2.RaftGroupStatus | None:
    """What a node says of one Raft group, or None when it does not host it."""
    return next((g for g in status.groups if g.group == group), None)


def leader_of(
    topology: Topology, node_ids: list[str], group: str = "kv", timeout_s: float = 0.5
) -> str | None:
    """The node that says it leads Raft group `group`, with a majority of the group's
    voters agreeing on it and its term (a deposed leader that has not noticed yet does
    not count)."""
    views = {}
    for node_id in node_ids:
        try:
            s = fetch_status(topology.listen_address(node_id), timeout_s)
        except grpc.RpcError:
            continue
        view = group_view(s, group)
        if view is not None:
            views[node_id] = view
    return agreed_leader(views, lambda node_id: len(topology.peers(node_id)) + 1)


def not_yet_led(topology: Topology, timeout_s: float = 1.0) -> list[str]:
    """What keeps the cluster from being fully led: each node that does not answer its
    status (as "kv3: UNAVAILABLE"; its groups cannot be judged without it), then each
    Raft group the nodes host that has no leader a majority of its voters follows."""
    views: dict[str, dict[str, admin_pb2.RaftGroupStatus]] = {}
    silent = []
    for node_id, status in fetch_all(topology, timeout_s).items():
        if isinstance(status, str):
            silent.append(f"{node_id}: {status}")
            continue
        for view in status.groups:
            views.setdefault(view.group, {})[node_id] = view
    leaderless = sorted(
        group
        for group, by_node in views.items()
        if agreed_leader(by_node, lambda node_id: len(topology.peers(node_id)) + 1) is None
    )
    return silent + leaderless


LEADERS_TIMEOUT_S = 30.0  # elections take about a second; on a loaded machine, several


def wait_all_led(topology: Topology, timeout_s: float = LEADERS_TIMEOUT_S) -> None:
    """Until every node answers and every Raft group it hosts is led; on timeout,
    WaitTimeout names what is still missing (`not_yet_led`)."""
    missing: list[str] = []

    def led() -> bool:
        missing[:] = not_yet_led(topology)
        return not missing

    try:
        wait_until(led, timeout_s, "every Raft group to elect a leader", interval_s=0.1)
    except WaitTimeout as e:
        raise WaitTimeout(f"{e}; still missing: {', '.join(missing)}") from e


def agreed_leader(
    views: dict[str, admin_pb2.RaftGroupStatus], voters_of: Callable[[str], int]
) -> str | None:
    """Of what the nodes that answered say of one group, the node that says it leads
    with a majority of the group's voters agreeing on it and its term. `voters_of`: the
    voter count when a view names none (a partition may have fewer replicas than its node
    kind has nodes, so the group's own list comes first)."""
    for node_id, view in views.items():
        voters = len(view.voters) or voters_of(node_id)
        agree = [v for v in views.values() if v.term == view.term and v.leader_id == node_id]
        if view.role == Role.LEADER and len(agree) > voters // 2:
            return node_id
    return None
