"""A node with bad configuration exits 2 with one clear line; no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.pytest_plugin import assert_all_gone, make_cluster
from cluster.launcher import LauncherError, LocalCluster
from cluster.ports import free_port_block
from services.runtime.topology import Group, Topology

pytestmark = pytest.mark.integration


def run_node(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.runtime", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def resolved_topology(tmp_path: Path) -> tuple[Topology, Path]:
    topo = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
    topo = topo.with_base_port(free_port_block(topo.port_span()))
    path = tmp_path / "topology.toml"
    path.write_text(topo.to_toml())
    return topo, path


def assert_config_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use(tmp_path: Path) -> None:
    topo, path = resolved_topology(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", topo.node("kv1").listen_port))
        squatter.listen()
        result = run_node("--topology", str(path), "--node", "kv1")
    assert_config_error(result, "cannot listen on")


def test_metrics_port_in_use(tmp_path: Path) -> None:
    topo, path = resolved_topology(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", topo.node("kv1").metrics_port))
        squatter.listen()
        result = run_node("--topology", str(path), "--node", "kv1")
    assert_config_error(result, "cannot serve metrics")


def test_unknown_node(tmp_path: Path) -> None:
    _, path = resolved_topology(tmp_path)
    assert_config_error(run_node("--topology", str(path), "--node", "kv7"), "unknown node 'kv7'")


def test_malformed_topology(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[cluster]\nhost = '127.0.0.1:99'\n[groups.kv]\nnodes = 3\n")
    assert_config_error(run_node("--topology", str(path), "--node", "kv1"), "not an IP address")


def test_launcher_names_the_node_that_failed_and_cleans_up(tmp_path: Path) -> None:
    cluster = make_cluster(
        tmp_path, (Group("kv", 2),), node_env={"FAULTLAB_PROBE_INTERVAL_MS": "1"}
    )
    with pytest.raises(LauncherError, match=r"(?s)kv1 exited with code 2.*below 10"):
        cluster.start()
    assert_all_gone(cluster.spawned_pids)


def test_launcher_reports_a_missing_toxiproxy(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, (Group("kv", 1),), toxiproxy_bin="/nonexistent/toxiproxy")
    with pytest.raises(LauncherError, match="cannot run toxiproxy-server '/nonexistent/toxiproxy'"):
        cluster.start()
    assert_all_gone(cluster.spawned_pids)


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    cluster: LocalCluster = make_cluster(tmp_path, (Group("kv", 1),)).start()
    cluster.close()
    cluster.close()
    assert_all_gone(cluster.spawned_pids)


def test_a_gateway_with_a_bad_tenant_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    topo = Topology.build("127.0.0.1", 0, (Group("kv", 1), Group("gateway", 1)))
    topo = topo.with_base_port(free_port_block(topo.port_span()))
    (tmp_path / "topology.toml").write_text(topo.to_toml())
    bad = tmp_path / "tenants.toml"
    bad.write_text('[tenants.a]\nkeys = ["k"]\nlimit = { algorithm = "token_bucket" }\n')
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.gateway",
            "--topology",
            str(tmp_path / "topology.toml"),
            "--node",
            "gateway1",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "FAULTLAB_GATEWAY_CONFIG": str(bad)},
    )
    assert_config_error(result, "token_bucket needs rate_per_s, burst")
