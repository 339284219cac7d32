"""kill -9, restart, pause and resume of real node processes."""

from __future__ import annotations

import grpc
import pytest

from chaos.pytest_plugin import pid_alive
from cluster import admin_client
from cluster.launcher import LocalCluster
from tests.integration.netcheck import all_pairs, wait_reachability

pytestmark = pytest.mark.integration


def test_kill_then_restart(faultlab_cluster: LocalCluster) -> None:
    old_pid = faultlab_cluster.pid("kv2")
    faultlab_cluster.kill("kv2")

    assert not pid_alive(old_pid)
    with pytest.raises(grpc.RpcError):
        admin_client.fetch_status(faultlab_cluster.topology.listen_address("kv2"), timeout_s=0.5)
    wait_reachability(faultlab_cluster, {("kv1", "kv2"): False, ("kv3", "kv2"): False})

    faultlab_cluster.start_node("kv2")  # waits for health SERVING

    assert faultlab_cluster.pid("kv2") != old_pid
    status = admin_client.fetch_status(faultlab_cluster.topology.listen_address("kv2"))
    assert status.node_id == "kv2" and status.uptime_s < 30
    wait_reachability(faultlab_cluster, all_pairs(faultlab_cluster, True))


def test_pause_makes_a_node_unreachable_until_resumed(faultlab_cluster: LocalCluster) -> None:
    wait_reachability(faultlab_cluster, all_pairs(faultlab_cluster, True))
    faultlab_cluster.pause("kv1")
    wait_reachability(faultlab_cluster, {("kv2", "kv1"): False, ("kv3", "kv1"): False})
    assert pid_alive(faultlab_cluster.pid("kv1")), "a paused process is still alive"

    faultlab_cluster.resume("kv1")
    wait_reachability(faultlab_cluster, all_pairs(faultlab_cluster, True))


def test_stop_is_graceful(faultlab_cluster: LocalCluster) -> None:
    assert faultlab_cluster.stop("kv3") == 0
    log = faultlab_cluster.log_path("kv3").read_text()
    assert '"event": "stopping"' in log and '"event": "stopped"' in log
    assert "shutdown_step_timeout" not in log, "a shutdown step overran its budget"


def test_restart_after_stopping_a_paused_node(faultlab_cluster: LocalCluster) -> None:
    faultlab_cluster.pause("kv2")
    assert faultlab_cluster.stop("kv2", grace_s=5) == 0  # SIGCONT first, so SIGTERM is handled
    faultlab_cluster.restart("kv2", hard=True)
    wait_reachability(faultlab_cluster, all_pairs(faultlab_cluster, True))
