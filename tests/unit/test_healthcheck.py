"""The containers' health check command: its exit codes without a serving node."""

from __future__ import annotations

from cluster.ports import free_port_block
from services.runtime import healthcheck


def test_usage_errors_exit_2() -> None:
    assert healthcheck.main([]) == 2
    assert healthcheck.main(["a", "b"]) == 2


def test_nothing_listening_is_unhealthy() -> None:
    port = free_port_block(1)
    assert healthcheck.main([f"127.0.0.1:{port}"]) == 1
