"""docker-compose.yml and Toxiproxy's proxy list, rendered from the topology.

    faultlab compose render [--topology topology.toml]

The containers mirror the local launcher: one Toxiproxy container holds every link, created
at its start from `toxiproxy.json` (its `-config` file); each node runs in its own container,
binds 0.0.0.0, and dials its peers through the Toxiproxy container. The client links and the
Toxiproxy API are published on the host at the same ports as with `faultlab up`, so the CLI
and clients work unchanged against either. Nothing is edited by hand: a test renders both
files again and compares them with the committed ones.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from services.runtime.registry import service
from services.runtime.topology import Topology

TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.5.0"
TOXIPROXY_HOST = "toxiproxy"
HEADER = "# Rendered from topology.toml by `faultlab compose render`; do not edit by hand.\n"


def toxiproxy_config(topology: Topology) -> list[dict[str, Any]]:
    """Every link, listening on all interfaces of the Toxiproxy container."""
    return [
        {
            "name": link.name,
            "listen": f"0.0.0.0:{link.listen_port}",
            "upstream": f"{link.dst}:{topology.node(link.dst).listen_port}",
            "enabled": True,
        }
        for link in topology.links
    ]


def compose(topology: Topology) -> dict[str, Any]:
    api = topology.toxiproxy_port
    client_ports = [f"{link.listen_port}:{link.listen_port}" for link in topology.links
                    if link.src == "client"]  # fmt: skip
    services: dict[str, Any] = {
        TOXIPROXY_HOST: {
            "image": TOXIPROXY_IMAGE,
            "command": ["-host=0.0.0.0", f"-port={api}", "-config=/etc/toxiproxy.json"],
            "volumes": ["./toxiproxy.json:/etc/toxiproxy.json:ro"],
            "ports": [f"{api}:{api}", *client_ports],
        }
    }
    for node in topology.nodes:
        module = service(node.group).module
        services[node.id] = {
            "build": ".",
            "command": ["python", "-m", module],
            "environment": {
                "FAULTLAB_TOPOLOGY": "/app/topology.toml",
                "FAULTLAB_NODE": node.id,
                "FAULTLAB_DATA_DIR": "/data",
                "FAULTLAB_LISTEN_HOST": "0.0.0.0",
                "FAULTLAB_PEER_HOST": TOXIPROXY_HOST,
            },
            "volumes": [f"{node.id}-data:/data"],
            # Published like the launcher's: the listen port for status and admin (never
            # through Toxiproxy), the metrics port for Prometheus.
            "ports": [f"{p}:{p}" for p in (node.listen_port, node.metrics_port)],
            "depends_on": [TOXIPROXY_HOST],
            "stop_grace_period": "10s",
        }
    return {"services": services, "volumes": {f"{n.id}-data": {} for n in topology.nodes}}


def render_compose(topology: Topology) -> str:
    return HEADER + yaml.safe_dump(compose(topology), sort_keys=False, width=100)


def render_toxiproxy(topology: Topology) -> str:
    return json.dumps(toxiproxy_config(topology), indent=2) + "\n"
