"""kill -9, restart, pause and resume of real node processes."""

from __future__ import annotations

import grpc
import pytest

from cluster import admin_client
from cluster.launcher import LocalCluster
from tests.conftest import pid_alive
from tests.integration.netcheck import all_pairs, wait_reachability

pytestmark = pytest.mark.integration


def test_kill_then_restart(cluster3: LocalCluster) -> None:
    old_pid = cluster3.pid("kv2")
    cluster3.kill("kv2")

    assert not pid_alive(old_pid)
    with pytest.raises(grpc.RpcError):
        admin_client.fetch_status(cluster3.topology.listen_address("kv2"), timeout_s=0.5)
    wait_reachability(cluster3, {("kv1", "kv2"): False, ("kv3", "kv2"): False})

    cluster3.start_node("kv2")  # waits for health SERVING

    assert cluster3.pid("kv2") != old_pid
    status = admin_client.fetch_status(cluster3.topology.listen_address("kv2"))
    assert status.node_id == "kv2" and status.uptime_s < 30
    wait_reachability(cluster3, all_pairs(cluster3, True))


def test_pause_makes_a_node_unreachable_until_resumed(cluster3: LocalCluster) -> None:
    wait_reachability(cluster3, all_pairs(cluster3, True))
    cluster3.pause("kv1")
    wait_reachability(cluster3, {("kv2", "kv1"): False, ("kv3", "kv1"): False})
    assert pid_alive(cluster3.pid("kv1")), "a paused process is still alive"

    cluster3.resume("kv1")
    wait_reachability(cluster3, all_pairs(cluster3, True))


def test_stop_is_graceful(cluster3: LocalCluster) -> None:
    assert cluster3.stop("kv3") == 0
    log = cluster3.log_path("kv3").read_text()
    assert '"event": "stopping"' in log and '"event": "stopped"' in log
    assert "shutdown_step_timeout" not in log, "a shutdown step overran its budget"


def test_restart_after_stopping_a_paused_node(cluster3: LocalCluster) -> None:
    cluster3.pause("kv2")
    assert cluster3.stop("kv2", grace_s=5) == 0  # SIGCONT first, so SIGTERM is handled
    cluster3.restart("kv2", hard=True)
    wait_reachability(cluster3, all_pairs(cluster3, True))
