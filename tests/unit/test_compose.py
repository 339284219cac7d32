"""docker-compose.yml, toxiproxy.json and the Dockerfile, checked without a Docker engine:
the committed files are what the topology renders, and they hang together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cluster.compose import TOXIPROXY_HOST, compose, render_compose, render_toxiproxy
from cluster.images import runtime_requirements
from services.runtime.config import parse
from services.runtime.registry import service
from services.runtime.topology import Topology

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def topology() -> Topology:
    return Topology.from_file(REPO / "topology.toml")


def test_committed_files_are_what_the_topology_renders(topology: Topology) -> None:
    committed = (REPO / "docker-compose.yml").read_text()
    assert yaml.safe_load(committed) == yaml.safe_load(render_compose(topology)), (
        "docker-compose.yml is stale: run `faultlab compose render`"
    )
    assert json.loads((REPO / "toxiproxy.json").read_text()) == json.loads(
        render_toxiproxy(topology)
    ), "toxiproxy.json is stale: run `faultlab compose render`"


def test_every_node_has_a_container_dialling_through_toxiproxy(topology: Topology) -> None:
    services = compose(topology)["services"]
    assert set(services) == {TOXIPROXY_HOST, *(n.id for n in topology.nodes)}
    for node in topology.nodes:
        svc = services[node.id]
        assert svc["command"][-1] == service(node.group).module
        assert svc["environment"]["FAULTLAB_NODE"] == node.id
        assert svc["environment"]["FAULTLAB_PEER_HOST"] == TOXIPROXY_HOST
        assert f"127.0.0.1:{node.listen_port}:{node.listen_port}" in svc["ports"]
    published = services[TOXIPROXY_HOST]["ports"]
    for node in topology.nodes:
        port = topology.link("client", node.id).listen_port
        assert f"127.0.0.1:{port}:{port}" in published, "clients reach every node through Toxiproxy"


def test_every_link_is_a_proxy_to_its_node_container(topology: Topology) -> None:
    proxies = {p["name"]: p for p in json.loads(render_toxiproxy(topology))}
    assert set(proxies) == {link.name for link in topology.links}
    for link in topology.links:
        node = topology.node(link.dst)
        port = {"": node.listen_port, "kafka": node.wire_port, "raft": node.raft_port}[
            link.listener
        ]
        assert proxies[link.name]["upstream"] == f"{link.dst}:{port}"


def test_a_container_node_binds_everywhere_and_dials_toxiproxy(
    topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = compose(topology)["services"]["kv2"]["environment"]
    for key, value in env.items():
        if not value.startswith("${"):  # compose interpolates those where it runs
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("FAULTLAB_TOPOLOGY", str(REPO / "topology.toml"))
    cfg = parse([])
    assert cfg.listen.startswith("0.0.0.0:")
    assert all(addr.startswith(f"{TOXIPROXY_HOST}:") for addr in cfg.peers.values())
    assert all(addr.startswith(f"{TOXIPROXY_HOST}:") for addr in cfg.raft_peers.values())
    assert cfg.raft_listen.startswith("0.0.0.0:")


def test_the_node_image_installs_faultlab_from_the_wheelhouse_without_network() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE" in dockerfile and "FROM ${BASE_IMAGE}" in dockerfile
    assert "--no-index --find-links /tmp/wheelhouse faultlab" in dockerfile
    # The build context is the repository; only the wheelhouse, Toxiproxy and the swarm
    # node's entrypoint go in.
    allowed = [
        line for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")
    ]
    assert allowed == [
        "!build/wheelhouse",
        "!.tools/bin/toxiproxy-server",
        "!.tools/bin/toxiproxy-cli",
        "!cluster/swarm_node_entrypoint.sh",
    ]


def test_a_node_needs_none_of_the_lab_tooling() -> None:
    needs = " ".join(runtime_requirements())
    assert "grpcio" in needs and "msgpack" in needs
    for tooling in ("typer", "rich", "matplotlib", "httpx", "pyyaml", "mfusepy", "docker"):
        assert tooling not in needs, f"the node image would carry {tooling}"


def test_every_container_is_health_checked_and_nodes_wait_for_toxiproxy(topology: Topology) -> None:
    services = compose(topology)["services"]
    for node in topology.nodes:
        svc = services[node.id]
        assert svc["healthcheck"]["test"][-1] == f"127.0.0.1:{node.listen_port}"
        assert svc["depends_on"] == {TOXIPROXY_HOST: {"condition": "service_healthy"}}
        assert f"{node.id}-data:/data" in svc["volumes"]
    api = f"http://127.0.0.1:{topology.toxiproxy_port}"
    assert services[TOXIPROXY_HOST]["healthcheck"]["test"][1:] == [
        "/toxiproxy-cli",
        "-h",
        api,
        "list",
    ]
