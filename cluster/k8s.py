"""Kubernetes manifests for a topology, as a kustomize base.

    faultlab k8s render --out deploy/k8s     # then: kubectl apply -k deploy/k8s

Shaped as the etcd and Kafka operators shape theirs:
- a **StatefulSet per group** with a **headless Service** (`kv-peers`): stable peer names
  (`kv-0.kv-peers`), publishNotReadyAddresses so peers find each other before they are
  ready (a Raft group is not ready until it has a quorum); podManagementPolicy
  **Parallel** (members start together, as a quorum must); a **volumeClaimTemplate** for
  each member's data.
- Pod `kv-0` is node `kv1`: the container derives FAULTLAB_NODE from its ordinal.
- **Readiness** by the gRPC health check of the node's listen port; **liveness** kept
  conservative (the same check, failing for a minute before a restart), so a node slowed
  by a fault is not restarted into a worse one. An exec probe
  (`python -m services.runtime.healthcheck --self`), not the kubelet's `grpc` probe:
  the pods of a StatefulSet share one probe, and each node of the topology listens on a
  port of its own, known only once the pod knows its ordinal.
- **Anti-affinity by host**, required: two members of one group on one host would lose
  the quorum together.
- A **PodDisruptionBudget** that keeps a quorum (maxUnavailable: size - quorum).
- **preStop** within **terminationGracePeriodSeconds**: a node hands its leadership over
  on SIGTERM (`faultlab node stop` tests it), so the hook is a short sleep that lets the
  endpoints controller take the pod out of Services before the hand-over starts.
- **Peers dial one another directly** by their stable names (FAULTLAB_PEER_DIRECT), the
  default: in Kubernetes network faults are Chaos Mesh's (chaos/chaos_mesh), injected into
  the pods' own network namespaces, and a proxy between peers would put every peer
  connection on the proxy's pod, out of their reach. `peers="toxiproxy"` routes peer
  links through Toxiproxy instead, as compose does, for the lab's own network faults.
- **Toxiproxy**, a Deployment with its proxies from a ConfigMap, and a Service for every
  link: the client links are the client Service.

Kustomize rather than Helm: the topology already is the template, so what is left is plain
YAML that kubectl applies without another tool (`kubectl apply -k`), that validates as it
is, and that overlays patch (images, storage class, namespace) without a template language.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from cluster.compose import NODE_IMAGE, TOXIPROXY_HOST
from services.runtime.config import PEER_DIRECT_ENV, PEER_TRANSPORTS
from services.runtime.registry import service
from services.runtime.topology import Group, Topology

TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.5.0"
LABEL = "app.kubernetes.io/name"
PART_OF = {"app.kubernetes.io/part-of": "faultlab"}
DATA_SIZE = "1Gi"
GRACE_S = 30
PRESTOP_SLEEP_S = 2
KUSTOMIZATION = "kustomization.yaml"
PEERS = ("direct", "toxiproxy")
BASE_PORT = 21000  # for a topology without one: each pod has an address of its own
PEER_DIRECT_TEMPLATE = "{group}-{ordinal}.{group}-peers"


def peer_service(group: str) -> str:
    return f"{group}-peers"


def pod_address(topology: Topology, node_id: str) -> str:
    """Node `kv1`'s stable name: pod kv-0 of StatefulSet kv, under its headless Service."""
    node = topology.node(node_id)
    return f"{node.group}-{node.index - 1}.{peer_service(node.group)}"


def quorum(size: int) -> int:
    return size // 2 + 1


def toxiproxy_config(topology: Topology) -> list[dict[str, Any]]:
    """Every link, to the pods' stable names."""
    return [
        {
            "name": link.name,
            "listen": f"0.0.0.0:{link.listen_port}",
            "upstream": f"{pod_address(topology, link.dst)}:{link.dst_port}",
            "enabled": True,
        }
        for link in topology.links
    ]


def _labels(name: str) -> dict[str, str]:
    return {LABEL: name, **PART_OF}


def _health_probe(group: str, period_s: int, failures: int, initial_s: int) -> dict[str, Any]:
    check = f"{_node_id_export(group)}; exec python -m services.runtime.healthcheck --self"
    return {
        "exec": {"command": ["sh", "-c", check]},
        "periodSeconds": period_s,
        "failureThreshold": failures,
        "initialDelaySeconds": initial_s,
        "timeoutSeconds": 3,
    }


def _node_id_export(group: str) -> str:
    """Pod kv-0 is node kv1: FAULTLAB_NODE from the ordinal ending the pod's host name."""
    return f'export FAULTLAB_NODE="{group}$(( ${{HOSTNAME##*-}} + 1 ))"'


def _peer_env(peers: str) -> dict[str, str]:
    if peers == "direct":
        return {"name": PEER_DIRECT_ENV, "value": PEER_DIRECT_TEMPLATE}
    return {"name": "FAULTLAB_PEER_HOST", "value": TOXIPROXY_HOST}


def _group_manifests(
    topology: Topology, group: Group, image: str, peers: str
) -> list[dict[str, Any]]:
    nodes = topology.group_nodes(group.name)
    module = service(group.name).module
    # The topology gives each node ports of its own and a pod learns its node only when
    # it starts, so the template names every member's ports; each pod serves its own.
    ports = sorted(
        {p for n in nodes for p in (n.listen_port, n.metrics_port, n.wire_port, n.raft_port) if p}
    )
    container = {
        "name": "node",
        "image": image,
        "command": ["sh", "-c", f"{_node_id_export(group.name)}; exec python -m {module}"],
        "env": [
            {"name": "FAULTLAB_TOPOLOGY", "value": "/etc/faultlab/topology.toml"},
            {"name": "FAULTLAB_DATA_DIR", "value": "/data"},
            {"name": "FAULTLAB_LISTEN_HOST", "value": "0.0.0.0"},
            _peer_env(peers),
            {"name": "FAULTLAB_PEER_TRANSPORT", "value": PEER_TRANSPORTS[0]},
        ],
        "ports": [{"containerPort": p, "protocol": "TCP"} for p in ports],
        "readinessProbe": _health_probe(group.name, 2, 3, 2),
        "livenessProbe": _health_probe(group.name, 10, 6, 30),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SLEEP_S}}},
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "topology", "mountPath": "/etc/faultlab", "readOnly": True},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": peer_service(group.name), "labels": _labels(group.name)},
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": _labels(group.name),
                "ports": [{"name": f"p{p}", "port": p, "targetPort": p} for p in ports],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": group.name, "labels": _labels(group.name)},
            "spec": {
                "serviceName": peer_service(group.name),
                "replicas": group.size,
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": _labels(group.name)},
                "template": {
                    "metadata": {"labels": _labels(group.name)},
                    "spec": {
                        "terminationGracePeriodSeconds": GRACE_S,
                        "affinity": {
                            "podAntiAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": [
                                    {
                                        "labelSelector": {"matchLabels": _labels(group.name)},
                                        "topologyKey": "kubernetes.io/hostname",
                                    }
                                ]
                            }
                        },
                        "containers": [container],
                        "volumes": [
                            {"name": "topology", "configMap": {"name": "faultlab-topology"}}
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": DATA_SIZE}},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": group.name, "labels": _labels(group.name)},
            "spec": {
                "maxUnavailable": group.size - quorum(group.size),
                "selector": {"matchLabels": _labels(group.name)},
            },
        },
    ]


def _toxiproxy_manifests(topology: Topology, image: str) -> list[dict[str, Any]]:
    api = topology.toxiproxy_port
    ports = [api, *(link.listen_port for link in topology.links)]
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "toxiproxy-config", "labels": _labels(TOXIPROXY_HOST)},
            "data": {"toxiproxy.json": json.dumps(toxiproxy_config(topology), indent=2)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": TOXIPROXY_HOST, "labels": _labels(TOXIPROXY_HOST)},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": _labels(TOXIPROXY_HOST)},
                "template": {
                    "metadata": {"labels": _labels(TOXIPROXY_HOST)},
                    "spec": {
                        "containers": [
                            {
                                "name": TOXIPROXY_HOST,
                                "image": image,
                                "args": [
                                    "-host=0.0.0.0",
                                    f"-port={api}",
                                    "-config=/etc/toxiproxy/toxiproxy.json",
                                ],
                                "ports": [{"containerPort": p} for p in ports],
                                "readinessProbe": {
                                    "httpGet": {"path": "/version", "port": api},
                                    "periodSeconds": 2,
                                },
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/toxiproxy"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "toxiproxy-config"}}],
                    },
                },
            },
        },
        {
            # Every link, the client links among them: peers and clients dial it by name.
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": TOXIPROXY_HOST, "labels": _labels(TOXIPROXY_HOST)},
            "spec": {
                "selector": _labels(TOXIPROXY_HOST),
                "ports": [{"name": f"p{p}", "port": p, "targetPort": p} for p in ports],
            },
        },
    ]


def manifests(
    topology: Topology,
    node_image: str = NODE_IMAGE,
    toxiproxy_image: str = TOXIPROXY_IMAGE,
    peers: str = PEERS[0],
) -> dict[str, list[dict[str, Any]]]:
    """File name -> its documents: one file per group, Toxiproxy, the topology;
    `peers`: "direct" or "toxiproxy" (how nodes dial one another)."""
    if peers not in PEERS:
        raise ValueError(f"peers is one of {PEERS}, not {peers!r}")
    files: dict[str, list[dict[str, Any]]] = {
        "topology.yaml": [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "faultlab-topology", "labels": PART_OF},
                "data": {"topology.toml": topology.to_toml()},
            }
        ],
        "toxiproxy.yaml": _toxiproxy_manifests(topology, toxiproxy_image),
    }
    for group in topology.groups:
        files[f"{group.name}.yaml"] = _group_manifests(topology, group, node_image, peers)
    return files


def render(topology: Topology, out: Path, peers: str = PEERS[0]) -> list[Path]:
    """Write the kustomize base into `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    files = manifests(topology, peers=peers)
    for name, docs in files.items():
        path = out / name
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False, width=100))
        written.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(files),
    }
    (out / KUSTOMIZATION).write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return written
