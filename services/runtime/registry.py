"""The service registry: every kind of node a topology may hold, and what its nodes run.

One table, read by topology validation (which group names exist), the launcher (which
module each node runs) and the docker-compose renderer (each container's command). It
names modules as strings and imports none of them, so it sits at the bottom of the
layers and every layer above may read it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every node serves these two ports, whatever its service: gRPC (the service, admin,
# health, reflection, Raft) and Prometheus metrics. The topology lays them out.
NODE_PORTS = ("listen", "metrics")


@dataclass(frozen=True)
class ServiceKind:
    group: str  # the topology group name, also each node id's prefix (kv1, kv2, ...)
    module: str  # what a node runs: `python -m MODULE --topology ... --node ...`
    summary: str
    replicated: bool  # runs Raft groups (and so has a leader to find)
    # Other groups whose nodes this group's nodes call (each through its own Toxiproxy link).
    dials: tuple[str, ...] = ()
    # A second front door in another system's own protocol (not gRPC), on a port of its
    # own with its own client link: "kafka" on the log nodes.
    wire_listener: str = ""

    @property
    def built(self) -> bool:
        """False while the group only runs the bare runtime (its service is not built yet)."""
        return self.module != RUNTIME_MODULE


RUNTIME_MODULE = "services.runtime"

SERVICES: dict[str, ServiceKind] = {
    s.group: s
    for s in (
        ServiceKind("kv", "services.kv", "Raft-replicated key-value store", replicated=True),
        ServiceKind("lock", "services.lock", "lock service with fencing tokens", replicated=True),
        ServiceKind(
            "log",
            "services.log",
            "log broker, a Raft group per partition",
            replicated=True,
            wire_listener="kafka",
        ),
        ServiceKind(
            "gateway",
            "services.gateway",
            "gateway: one address, per-tenant limits",
            replicated=False,
            dials=("kv", "lock", "log"),
        ),
    )
}


def service(group: str) -> ServiceKind:
    """The kind of node a topology group holds; KeyError names the known ones."""
    try:
        return SERVICES[group]
    except KeyError:
        raise KeyError(f"unknown group {group!r}; groups are: {', '.join(SERVICES)}") from None
