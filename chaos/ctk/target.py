"""The cluster a Chaos Toolkit activity acts on: the one `faultlab up --detach` recorded
(its state file, under FAULTLAB_HOME or ~/.faultlab), as the CLI finds it."""

from __future__ import annotations

import os

from chaos.net import Network
from cluster import admin_client, state
from cluster.supervisor import SupervisorClient
from cluster.toxiproxy import ToxiproxyClient
from services.runtime.tls import TLS_DIR_ENV
from services.runtime.topology import Topology

LEADER = "leader"


class ActivityError(RuntimeError):
    """An activity cannot act: no cluster, an unknown node, no leader. Chaos Toolkit
    records the message as the activity's failure."""


def cluster() -> state.ClusterState:
    try:
        found = state.read()
    except state.NoCluster as e:
        raise ActivityError(str(e)) from None
    if found.tls_dir:
        os.environ[TLS_DIR_ENV] = found.tls_dir  # our channels present its certificate
    return found


def topology() -> Topology:
    return cluster().topology()


def network() -> tuple[Network, ToxiproxyClient]:
    st = cluster()
    client = ToxiproxyClient(st.toxiproxy_api)
    return Network(client, st.topology()), client


def supervisor() -> SupervisorClient:
    st = cluster()
    if st.on_docker or not st.supervisor_socket:
        raise ActivityError(
            "process actions act on a cluster of `faultlab up`; for a compose cluster or a "
            "swarm use `faultlab node ...` (network actions work on all)"
        )
    return SupervisorClient(st.supervisor_socket)


def flag(name: str, value: bool | str) -> bool:
    """A yes/no argument, as JSON gives it or as `chaos run --var name=true` does."""
    if isinstance(value, bool):
        return value
    spelled = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if str(value).lower() not in spelled:
        raise ActivityError(f"{name} is true or false, not {value!r}")
    return spelled[str(value).lower()]


def node(name: str, group: str = "kv") -> str:
    """`name` itself, or the current leader of Raft group `group` for "leader"."""
    topo = topology()
    if name != LEADER:
        if name not in topo.node_ids:
            raise ActivityError(f"no node {name!r}; nodes: {', '.join(topo.node_ids)}")
        return name
    members = [n.id for n in topo.group_nodes(group.split("/")[0])]
    leader = admin_client.leader_of(topo, members, group)
    if leader is None:
        raise ActivityError(f"no leader of {group} that a majority follows")
    return leader
