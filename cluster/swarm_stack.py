"""The Docker Swarm stack file and its Toxiproxy proxy list, rendered from the topology.

    faultlab swarm render        # stack.yml and toxiproxy.swarm.json beside topology.toml
    docker stack deploy -c stack.yml faultlab

The stack is docker-compose.yml (cluster/compose.py) made to run over several engines:
- **dnsrr endpoints** and **host-mode ports**: swarm's virtual IPs and its ingress
  routing mesh need IPVS, which not every kernel has (this machine's does not); a service
  name then resolves to its task's address, and a published port listens on the swarm
  node running the task.
- **Placement**: each group's replica i is pinned to swarm node slot ((i - 1) mod hosts)
  + 1 (the node label `faultlab.slot`), so a group's replicas are spread one per node.
  Pinned, not free, because a Raft member's identity is its data: started on another node
  it would start from an empty disk under the same member id, forgetting the votes it
  gave and the entries it acknowledged; etcd refuses that (a member that lost its data is
  removed and added again). Like a StatefulSet pod with a local volume, it waits for its
  node. Toxiproxy holds no state and is free to move: when its node dies it is
  rescheduled.
- **Everything the host calls goes through Toxiproxy's published ports**: the client
  links, as today, and, swarm only, each node's listen and metrics ports as proxies named
  NODE_listen and NODE_metrics (never faulted; in compose those ports are published by the
  node containers themselves). So one address, the swarm node running Toxiproxy, reaches
  the whole cluster.
- topology.toml and the proxy list are swarm configs; data is a volume per node.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from cluster.compose import HEADER, TOXIPROXY_HOST, compose
from services.runtime.topology import Topology

STACK_FILE = "stack.yml"
TOXIPROXY_FILE = "toxiproxy.swarm.json"
NETWORK = "faultlab"
SLOT_LABEL = "faultlab.slot"
HOSTS = 3  # swarm nodes `faultlab swarm up` makes
# Ports inside the swarm: every node has an address of its own, so no block need be free.
SWARM_BASE_PORT = 21000
ADMIN_LISTENERS = ("listen", "metrics")


def slot(node_index: int, hosts: int = HOSTS) -> int:
    """The swarm node (1-based) a group's replica `node_index` is pinned to."""
    return (node_index - 1) % hosts + 1


def toxiproxy_config(topology: Topology) -> list[dict[str, Any]]:
    """Every link, then each node's listen and metrics ports for the host to call."""
    proxies = [
        {
            "name": link.name,
            "listen": f"0.0.0.0:{link.listen_port}",
            "upstream": f"{link.dst}:{link.dst_port}",
            "enabled": True,
        }
        for link in topology.links
    ]
    for node in topology.nodes:
        for listener, port in zip(
            ADMIN_LISTENERS, (node.listen_port, node.metrics_port), strict=True
        ):
            proxies.append(
                {
                    "name": f"{node.id}_{listener}",
                    "listen": f"0.0.0.0:{port}",
                    "upstream": f"{node.id}:{port}",
                    "enabled": True,
                }
            )
    return proxies


def _host_ports(ports: list[int]) -> list[dict[str, Any]]:
    return [{"target": p, "published": p, "protocol": "tcp", "mode": "host"} for p in ports]


def stack(
    topology: Topology,
    images: dict[str, str],
    hosts: int = HOSTS,
    node_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The stack file; `images`: FAULTLAB_NODE_IMAGE and FAULTLAB_TOXIPROXY_IMAGE;
    `node_env`: more environment for every node (an experiment mode's settings)."""
    base = compose(topology)["services"]
    proxy = base[TOXIPROXY_HOST]
    published = [int(p.rsplit(":", 1)[1]) for p in proxy["ports"]]
    published += [p for n in topology.nodes for p in (n.listen_port, n.metrics_port)]
    services: dict[str, Any] = {
        TOXIPROXY_HOST: {
            "image": images["FAULTLAB_TOXIPROXY_IMAGE"],
            "command": proxy["command"],
            "configs": [{"source": "toxiproxy", "target": "/etc/toxiproxy.json"}],
            "ports": _host_ports(published),
            "networks": [NETWORK],
            "healthcheck": proxy["healthcheck"],
            "deploy": {
                "endpoint_mode": "dnsrr",
                "restart_policy": {"condition": "any", "delay": "1s"},
            },
        }
    }
    for node in topology.nodes:
        spec = base[node.id]
        services[node.id] = {
            "image": images["FAULTLAB_NODE_IMAGE"],
            "command": spec["command"],
            "environment": {**spec["environment"], **(node_env or {})},
            "volumes": [f"{node.id}-data:/data"],
            "configs": [{"source": "topology", "target": "/app/topology.toml"}],
            "networks": [NETWORK],
            "healthcheck": spec["healthcheck"],
            "stop_grace_period": spec["stop_grace_period"],
            "deploy": {
                "endpoint_mode": "dnsrr",
                "placement": {
                    "constraints": [f"node.labels.{SLOT_LABEL} == {slot(node.index, hosts)}"]
                },
                "restart_policy": {"condition": "any", "delay": "1s"},
            },
        }
    return {
        "version": "3.8",
        "services": services,
        "networks": {NETWORK: {"driver": "overlay", "attachable": True}},
        "volumes": {f"{n.id}-data": {} for n in topology.nodes},
        "configs": {
            "toxiproxy": {"file": f"./{TOXIPROXY_FILE}"},
            "topology": {"file": "./topology.toml"},
        },
    }


def render_stack(
    topology: Topology,
    images: dict[str, str],
    hosts: int = HOSTS,
    node_env: dict[str, str] | None = None,
) -> str:
    header = HEADER.replace("faultlab compose render", "faultlab swarm render")
    body = stack(topology, images, hosts, node_env)
    return header + yaml.safe_dump(body, sort_keys=False, width=100)


def render_swarm_toxiproxy(topology: Topology) -> str:
    return json.dumps(toxiproxy_config(topology), indent=2) + "\n"
