"""The swarm stack, rendered from a topology: what makes it run over several engines."""

from __future__ import annotations

import json

import yaml

from cluster.swarm_stack import (
    render_stack,
    render_swarm_toxiproxy,
    slot,
    stack,
    toxiproxy_config,
)
from services.runtime.topology import Group, Topology

IMAGES = {"FAULTLAB_NODE_IMAGE": "node:x", "FAULTLAB_TOXIPROXY_IMAGE": "proxy:y"}
TOPOLOGY = Topology.build("127.0.0.1", 21000, (Group("kv", 3), Group("log", 5)))


def test_each_groups_replicas_are_pinned_one_per_swarm_node() -> None:
    services = stack(TOPOLOGY, IMAGES)["services"]
    for group in ("kv", "log"):
        slots = [
            services[n.id]["deploy"]["placement"]["constraints"][0]
            for n in TOPOLOGY.group_nodes(group)
        ]
        assert len(set(slots[:3])) == 3  # the first three on three different nodes
    log = [services[n.id]["deploy"]["placement"] for n in TOPOLOGY.group_nodes("log")]
    assert log[3] == log[0] and log[4] == log[1]  # a fourth and fifth share theirs
    assert [slot(i) for i in range(1, 7)] == [1, 2, 3, 1, 2, 3]
    assert "placement" not in services["toxiproxy"]["deploy"]  # free to be rescheduled


def test_no_virtual_ips_and_no_routing_mesh() -> None:
    services = stack(TOPOLOGY, IMAGES)["services"]
    assert {s["deploy"]["endpoint_mode"] for s in services.values()} == {"dnsrr"}
    ports = services["toxiproxy"]["ports"]
    assert ports and {p["mode"] for p in ports} == {"host"}
    assert all("ports" not in s for name, s in services.items() if name != "toxiproxy")


def test_the_host_reaches_every_node_through_toxiproxy() -> None:
    proxies = {p["name"]: p for p in toxiproxy_config(TOPOLOGY)}
    published = {p["published"] for p in stack(TOPOLOGY, IMAGES)["services"]["toxiproxy"]["ports"]}
    for node in TOPOLOGY.nodes:
        listen = proxies[f"{node.id}_listen"]
        assert listen["upstream"] == f"{node.id}:{node.listen_port}"
        assert {node.listen_port, node.metrics_port} <= published
    for link in TOPOLOGY.links:  # every link of the compose file is there too
        assert proxies[link.name]["upstream"] == f"{link.dst}:{link.dst_port}"
    assert TOPOLOGY.toxiproxy_port in published
    ports = [int(p["listen"].rsplit(":", 1)[1]) for p in proxies.values()]
    assert len(ports) == len(set(ports))


def test_a_modes_environment_reaches_every_node_and_the_files_parse() -> None:
    text = render_stack(TOPOLOGY, IMAGES, node_env={"FAULTLAB_PRE_VOTE": "0"})
    services = yaml.safe_load(text)["services"]
    assert all(services[n.id]["environment"]["FAULTLAB_PRE_VOTE"] == "0" for n in TOPOLOGY.nodes)
    assert all(services[n.id]["image"] == "node:x" for n in TOPOLOGY.nodes)
    assert json.loads(render_swarm_toxiproxy(TOPOLOGY))
