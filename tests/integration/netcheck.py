"""Waiting for what the nodes themselves measure about their links."""

from __future__ import annotations

from cluster import admin_client
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until

# A probe runs every 300 ms with a 1 s deadline; a black-holed link is noticed within
# about 1.3 s. The bound leaves room for a loaded 2-core CI machine.
NOTICE_S = 15.0


def reachable(cluster: LocalCluster, src: str, dst: str) -> bool | None:
    return admin_client.reachability(cluster.topology).get((src, dst))


def wait_reachability(cluster: LocalCluster, expected: dict[tuple[str, str], bool]) -> None:
    """Wait until every (src, dst) pair reports the expected reachability."""

    def matches() -> bool:
        seen = admin_client.reachability(cluster.topology)
        return all(seen.get(pair) is want for pair, want in expected.items())

    wait_until(matches, NOTICE_S, f"reachability {expected}", interval_s=0.1)


def all_pairs(cluster: LocalCluster, value: bool) -> dict[tuple[str, str], bool]:
    ids = [n.id for n in cluster.topology.nodes]
    return {(a, b): value for a in ids for b in ids if a != b}


def rtt_ms(cluster: LocalCluster, src: str, dst: str) -> float:
    status = admin_client.fetch_status(cluster.topology.listen_address(src))
    return next(p.rtt_ms for p in status.peers if p.node_id == dst)
