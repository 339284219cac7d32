"""Node configuration: every way a node refuses to start, before touching the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.runtime.config import ConfigError, parse


@pytest.fixture
def topology_file(tmp_path: Path) -> Path:
    path = tmp_path / "topology.toml"
    path.write_text("[cluster]\nbase_port = 20000\n[groups.kv]\nnodes = 3\n")
    return path


def test_a_node_dials_its_peers_through_their_links(topology_file: Path) -> None:
    cfg = parse(["--topology", str(topology_file), "--node", "kv2"])
    assert cfg.listen == "127.0.0.1:20003"
    assert cfg.metrics == "127.0.0.1:20004"
    assert cfg.peers == {"kv1": "127.0.0.1:20012", "kv3": "127.0.0.1:20013"}
    # Raft's framed transport: its own port, and its own link to each peer's
    raft = {n: cfg.topology.node(n).raft_port for n in ("kv1", "kv2", "kv3")}
    assert cfg.raft_listen == f"127.0.0.1:{raft['kv2']}"
    assert cfg.raft_peers == {
        p: f"127.0.0.1:{cfg.topology.link('kv2', p, 'raft').listen_port}" for p in ("kv1", "kv3")
    }
    assert cfg.peer_transport == "tcp"


def test_peers_are_dialled_directly_by_a_host_template(
    topology_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kubernetes with Chaos Mesh: each peer at its own port on its pod's stable name."""
    monkeypatch.setenv("FAULTLAB_PEER_DIRECT", "{group}-{ordinal}.{group}-peers")
    cfg = parse(["--topology", str(topology_file), "--node", "kv2"])
    kv1, kv3 = cfg.topology.node("kv1"), cfg.topology.node("kv3")
    assert cfg.peers == {
        "kv1": f"kv-0.kv-peers:{kv1.listen_port}",
        "kv3": f"kv-2.kv-peers:{kv3.listen_port}",
    }
    assert cfg.raft_peers["kv3"] == f"kv-2.kv-peers:{kv3.raft_port}"
    monkeypatch.setenv("FAULTLAB_PEER_DIRECT", "{pod}.peers")
    with pytest.raises(ConfigError, match="FAULTLAB_PEER_DIRECT"):
        parse(["--topology", str(topology_file), "--node", "kv2"])


def test_the_peer_transport_is_chosen_by_flag_or_environment(
    topology_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["--topology", str(topology_file), "--node", "kv1"]
    assert parse([*argv, "--peer-transport", "grpc"]).peer_transport == "grpc"
    monkeypatch.setenv("FAULTLAB_PEER_TRANSPORT", "grpc")
    assert parse(argv).peer_transport == "grpc"


def test_environment_twins(topology_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTLAB_TOPOLOGY", str(topology_file))
    monkeypatch.setenv("FAULTLAB_NODE", "kv3")
    assert parse([]).node_id == "kv3"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--node", "kv1"], "--topology .* is required"),
        (["--topology", "{topo}"], "--node .* is required"),
        (["--topology", "{topo}", "--node", "kv9"], "unknown node 'kv9'"),
        (["--topology", "/nope.toml", "--node", "kv1"], "cannot read topology file"),
        (["--topology", "{topo}", "--node", "kv1", "--probe-interval-ms", "x"], "invalid int"),
        (["--topology", "{topo}", "--node", "kv1", "--probe-interval-ms", "1"], "below 10"),
        (["--topology", "{topo}", "--node", "kv1", "--bogus"], "unrecognized arguments"),
        (
            ["--topology", "{topo}", "--node", "kv1", "--peer-transport", "udp"],
            "'udp': use tcp or grpc",
        ),
    ],
)
def test_bad_configuration(topology_file: Path, argv: list[str], message: str) -> None:
    argv = [a.replace("{topo}", str(topology_file)) for a in argv]
    with pytest.raises(ConfigError, match=message):
        parse(argv)


def test_unresolved_topology_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[groups.kv]\nnodes = 3\n")
    with pytest.raises(ConfigError, match="base_port 0 must be resolved"):
        parse(["--topology", str(path), "--node", "kv1"])
