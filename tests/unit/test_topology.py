"""Topology: the port layout and every validation error."""

from __future__ import annotations

import pytest

from services.runtime.topology import CLIENT, RAFT_LISTENER, Group, Topology, TopologyError


def three_kv(base_port: int = 20000) -> Topology:
    return Topology.build("127.0.0.1", base_port, (Group("kv", 3),))


def test_layout_of_a_three_node_group() -> None:
    topo = three_kv()
    assert topo.toxiproxy_port == 20000
    assert [n.id for n in topo.nodes] == ["kv1", "kv2", "kv3"]
    assert [(n.listen_port, n.metrics_port) for n in topo.nodes] == [
        (20001, 20002),
        (20003, 20004),
        (20005, 20006),
    ]
    assert [n.client_proxy_port for n in topo.nodes] == [20007, 20008, 20009]
    # One proxy per ordered pair: 3 * 2 = 6, after the client proxies.
    peer_links = [link for link in topo.links if link.src != CLIENT and not link.listener]
    assert [(link.src, link.dst) for link in peer_links] == [
        ("kv1", "kv2"),
        ("kv1", "kv3"),
        ("kv2", "kv1"),
        ("kv2", "kv3"),
        ("kv3", "kv1"),
        ("kv3", "kv2"),
    ]
    assert [link.listen_port for link in peer_links] == list(range(20010, 20016))
    assert len(set(topo.ports())) == len(topo.ports()) == topo.port_span()


def test_peers_dial_through_their_own_link() -> None:
    topo = three_kv()
    assert topo.peer_dial_address("kv1", "kv2") == "127.0.0.1:20010"
    assert topo.peer_dial_address("kv2", "kv1") == "127.0.0.1:20012"
    assert topo.client_address("kv3") == "127.0.0.1:20009"
    assert [p.id for p in topo.peers("kv2")] == ["kv1", "kv3"]


def test_groups_are_isolated_from_each_other() -> None:
    topo = Topology.build("127.0.0.1", 20000, (Group("kv", 3), Group("lock", 2)))
    assert [p.id for p in topo.peers("lock1")] == ["lock2"]
    with pytest.raises(TopologyError, match="no link from 'kv1' to 'lock1'"):
        topo.link("kv1", "lock1")
    assert len(topo.ports()) == topo.port_span()


def test_a_gateway_dials_every_backend_node_through_its_own_link() -> None:
    groups = (Group("kv", 3), Group("gateway", 2), Group("lock", 1))
    topo = Topology.build("127.0.0.1", 20000, groups)
    assert [b.id for b in topo.backends("gateway2")] == ["kv1", "kv2", "kv3", "lock1"]
    assert topo.backends("kv1") == [], "only the gateway dials other groups"
    gateway_links = [(link.src, link.dst) for link in topo.links if link.src == "gateway1"]
    assert gateway_links == [
        ("gateway1", "gateway2"),
        ("gateway1", "kv1"),
        ("gateway1", "kv2"),
        ("gateway1", "kv3"),
        ("gateway1", "lock1"),
    ]
    # The links sit in the gateway's own block, so the groups after it keep their ports.
    without = Topology.build("127.0.0.1", 20000, (Group("kv", 3), Group("lock", 1)))
    gateway_span = 3 * 2 + 2 * 1 + 2 * 4
    assert topo.node("lock1").listen_port == without.node("lock1").listen_port + gateway_span
    assert len(set(topo.ports())) == len(topo.ports()) == topo.port_span()


def test_log_nodes_get_a_kafka_port_and_link_after_every_other_port() -> None:
    with_log = Topology.build("127.0.0.1", 20000, (Group("kv", 3), Group("log", 2)))
    kafka = [link for link in with_log.links if link.listener == "kafka"]
    grpc_only = Topology.build("127.0.0.1", 20000, (Group("kv", 3), Group("lock", 2)))
    last = max(grpc_only.ports()) - (3 * 3 + 2 * 2)  # before the Raft listeners and links
    assert [(link.name, link.listen_port) for link in kafka] == [
        ("client_to_log1_kafka", last + 2),
        ("client_to_log2_kafka", last + 4),
    ]
    assert [with_log.node(f"log{i}").wire_port for i in (1, 2)] == [last + 1, last + 3]
    assert [link.dst_port for link in kafka] == [last + 1, last + 3]
    assert with_log.wire_addresses("log") == [f"127.0.0.1:{last + 2}", f"127.0.0.1:{last + 4}"]
    # the gRPC ports stay where they were without Kafka
    assert with_log.client_address("log1") == f"127.0.0.1:{with_log.node('log1').client_proxy_port}"
    assert with_log.link("client", "log1").dst_port == with_log.node("log1").listen_port
    assert len(set(with_log.ports())) == len(with_log.ports()) == with_log.port_span()


def test_replicated_nodes_get_a_raft_port_and_a_link_per_pair_after_every_other_port() -> None:
    groups = (Group("kv", 3), Group("gateway", 1), Group("log", 2))
    topo = Topology.build("127.0.0.1", 20000, groups)
    last = max(p for n in topo.nodes for p in (n.wire_port, n.metrics_port))
    last = max([last, *(link.listen_port for link in topo.links if link.listener != RAFT_LISTENER)])
    ports = [topo.node(n).raft_port for n in ("kv1", "kv2", "kv3", "log1", "log2")]
    assert ports == list(range(last + 1, last + 6))
    assert topo.node("gateway1").raft_port == 0, "a gateway runs no Raft group"
    raft = [link for link in topo.links if link.listener == RAFT_LISTENER]
    assert [link.name for link in raft][:2] == ["kv1_to_kv2_raft", "kv1_to_kv3_raft"]
    assert len(raft) == 3 * 2 + 2 * 1
    assert [link.listen_port for link in raft] == list(range(last + 6, last + 6 + len(raft)))
    assert topo.link("kv2", "kv1", RAFT_LISTENER).dst_port == topo.node("kv1").raft_port
    assert [link.name for link in topo.links_between("kv1", "kv2")] == [
        "kv1_to_kv2",
        "kv1_to_kv2_raft",
    ]
    assert len(set(topo.ports())) == len(topo.ports()) == topo.port_span()


def test_unresolved_topology_is_laid_out_later() -> None:
    topo = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
    assert not topo.resolved and topo.nodes == ()
    resolved = topo.with_base_port(30000)
    assert resolved.resolved and resolved.node("kv1").listen_port == 30001


def test_toml_round_trip() -> None:
    topo = Topology.build("127.0.0.1", 20000, (Group("kv", 3), Group("lock", 1, 40000)))
    again = Topology.from_toml(topo.to_toml())
    assert again == topo
    assert again.ports() == topo.ports()


def test_default_topology_file_is_valid() -> None:
    topo = Topology.from_file("topology.toml")
    assert [(g.name, g.size) for g in topo.groups] == [
        ("kv", 3),
        ("lock", 3),
        ("log", 3),
        ("gateway", 2),
    ]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[cluster]\nbase_port = 20000\n", "needs at least one"),
        ("[groups.kv]\nnodes = 0\n", "has 0 nodes; it needs at least 1"),
        ("[groups.kv]\nnodes = -1\n", "has -1 nodes"),
        ("[groups.kv]\nnodes = 12\n", "at most 9"),
        ("[groups.cache]\nnodes = 3\n", "unknown group 'cache'"),
        ("[groups.kv]\n", "missing required key 'nodes'"),
        ("[groups.kv]\nnodes = '3'\n", "nodes must be int"),
        ("[groups.kv]\nnodes = true\n", "nodes must be int"),
        ("[groups.kv]\nnodes = 3\nreplicas = 2\n", "unknown key.*replicas"),
        ("[clutser]\n[groups.kv]\nnodes = 3\n", "unknown key.*clutser"),
        ("[cluster]\nhost = 'localhost'\n[groups.kv]\nnodes = 3\n", "not an IP address"),
        ("[cluster]\nbase_port = 80\n[groups.kv]\nnodes = 3\n", "must be 0 or in 1024"),
        ("[cluster]\nbase_port = 65530\n[groups.kv]\nnodes = 3\n", "past 65535"),
        ("[groups.kv]\nnodes = 3\nbase_port = 70000\n", "not in 1024"),
        ("[groups.kv\nnodes = 3\n", "not valid TOML"),
        ("groups = 3\n", "needs at least one"),
        ("[groups]\nkv = 3\n", r"\[groups.kv\]: must be a table"),
    ],
)
def test_validation_errors(toml: str, message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        Topology.from_toml(toml)


def test_overlapping_ports_are_refused() -> None:
    toml = """
[cluster]
base_port = 20000
[groups.kv]
nodes = 3
[groups.lock]
nodes = 3
base_port = 20005
"""
    with pytest.raises(TopologyError, match="port 20005 overlaps: kv3 listen and lock1 listen"):
        Topology.from_toml(toml)


def test_group_block_on_the_toxiproxy_port_is_refused() -> None:
    with pytest.raises(TopologyError, match="port 20000 overlaps: the Toxiproxy API"):
        Topology.build("127.0.0.1", 20000, (Group("kv", 1, 20000),))


def test_unknown_node_names_the_known_ones() -> None:
    with pytest.raises(TopologyError, match="unknown node 'kv9'; the topology has: kv1, kv2, kv3"):
        three_kv().node("kv9")


def test_missing_file() -> None:
    with pytest.raises(TopologyError, match="cannot read topology file"):
        Topology.from_file("/nonexistent/topology.toml")
