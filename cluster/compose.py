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

from services.runtime.config import PEER_TRANSPORTS
from services.runtime.registry import service
from services.runtime.tls import TLS_DIR_ENV
from services.runtime.topology import Topology

TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.5.0"
NODE_IMAGE = "faultlab-node:dev"
BASE_IMAGE = "python:3.11-slim"
TOXIPROXY_HOST = "toxiproxy"
# Each of these environment variables, when set where `docker compose` runs, replaces the
# default: `make images` sets them to images built from a local Debian base where the
# published ones cannot be pulled (cluster/images.py).
IMAGE_VARIABLES = {
    "FAULTLAB_TOXIPROXY_IMAGE": TOXIPROXY_IMAGE,
    "FAULTLAB_NODE_IMAGE": NODE_IMAGE,
    "FAULTLAB_BASE_IMAGE": BASE_IMAGE,
}
HEADER = "# Rendered from topology.toml by `faultlab compose render`; do not edit by hand.\n"


def toxiproxy_config(topology: Topology) -> list[dict[str, Any]]:
    """Every link, listening on all interfaces of the Toxiproxy container."""
    return [
        {
            "name": link.name,
            "listen": f"0.0.0.0:{link.listen_port}",
            "upstream": f"{link.dst}:{link.dst_port}",
            "enabled": True,
        }
        for link in topology.links
    ]


def _variable(name: str) -> str:
    return f"${{{name}:-{IMAGE_VARIABLES[name]}}}"


def compose(topology: Topology, build_context: str = ".") -> dict[str, Any]:
    """The compose file, its relative paths (toxiproxy.json, topology.toml) next to it."""
    api = topology.toxiproxy_port
    host = topology.host  # published on the topology's address only, as the launcher binds
    client_ports = [
        f"{host}:{link.listen_port}:{link.listen_port}"
        for link in topology.links
        if link.src == "client"
    ]
    services: dict[str, Any] = {
        TOXIPROXY_HOST: {
            "image": _variable("FAULTLAB_TOXIPROXY_IMAGE"),
            "command": ["-host=0.0.0.0", f"-port={api}", "-config=/etc/toxiproxy.json"],
            "volumes": ["./toxiproxy.json:/etc/toxiproxy.json:ro"],
            "ports": [f"{host}:{api}:{api}", *client_ports],
            # Healthy once its API answers, and so once every proxy of toxiproxy.json
            # listens (both images ship toxiproxy-cli beside the server).
            "healthcheck": _healthcheck(
                ["/toxiproxy-cli", "-h", f"http://127.0.0.1:{api}", "list"]
            ),
        }
    }
    for node in topology.nodes:
        module = service(node.group).module
        services[node.id] = {
            "image": _variable("FAULTLAB_NODE_IMAGE"),
            "build": {
                "context": build_context,
                "args": {"BASE_IMAGE": _variable("FAULTLAB_BASE_IMAGE")},
            },
            "command": ["python", "-m", module],
            "environment": {
                "FAULTLAB_TOPOLOGY": "/app/topology.toml",
                "FAULTLAB_NODE": node.id,
                "FAULTLAB_DATA_DIR": "/data",
                "FAULTLAB_LISTEN_HOST": "0.0.0.0",
                "FAULTLAB_PEER_HOST": TOXIPROXY_HOST,
                # what carries Raft, as for local nodes: set where `docker compose` runs
                "FAULTLAB_PEER_TRANSPORT": f"${{FAULTLAB_PEER_TRANSPORT:-{PEER_TRANSPORTS[0]}}}",
            },
            "volumes": [f"{node.id}-data:/data", "./topology.toml:/app/topology.toml:ro"],
            # Published like the launcher's: the listen port for status and admin (never
            # through Toxiproxy), the metrics port for Prometheus.
            "ports": [f"{host}:{p}:{p}" for p in (node.listen_port, node.metrics_port)],
            # `docker compose up --wait` returns once every node answers its gRPC health
            # check with SERVING (the launcher waits for the same).
            "healthcheck": _healthcheck(
                ["python", "-m", "services.runtime.healthcheck", f"127.0.0.1:{node.listen_port}"]
            ),
            "depends_on": {TOXIPROXY_HOST: {"condition": "service_healthy"}},
            "stop_grace_period": "10s",
        }
    return {"services": services, "volumes": {f"{n.id}-data": {} for n in topology.nodes}}


TLS_FILE = "docker-compose.tls.yml"
TLS_FOLDER = "tls"  # beside the compose file: the CA and certificates (cluster/tls.py)


def tls_override(topology: Topology) -> dict[str, Any]:
    """What `faultlab compose up --tls` adds to docker-compose.yml: each node reads the
    CA and certificates from ./tls, mounted read-only, and serves and dials with them."""
    return {
        "services": {
            n.id: {"environment": {TLS_DIR_ENV: "/tls"}, "volumes": [f"./{TLS_FOLDER}:/tls:ro"]}
            for n in topology.nodes
        }
    }


def render_tls_override(topology: Topology) -> str:
    return HEADER + yaml.safe_dump(tls_override(topology), sort_keys=False, width=100)


def _healthcheck(command: list[str]) -> dict[str, Any]:
    return {"test": ["CMD", *command], "interval": "1s", "timeout": "3s", "retries": 60}


def render_compose(topology: Topology, build_context: str = ".") -> str:
    return HEADER + yaml.safe_dump(compose(topology, build_context), sort_keys=False, width=100)


def render_toxiproxy(topology: Topology) -> str:
    return json.dumps(toxiproxy_config(topology), indent=2) + "\n"
