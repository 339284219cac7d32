"""`ToxiproxyClient.answers`: what the launcher and the swarm's refresh poll on. A
frozen Toxiproxy (its swarm node paused) accepts connections and never answers; a dead
one refuses. Both must read as "not yet", inside the client's timeout, not as an error
that ends the poll (CI's swarm failure of 2026-12-05)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from cluster.toxiproxy import ToxiproxyClient

TIMEOUT_S = 0.3


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        host, port = s.getsockname()
        yield f"{host}:{port}"


def test_a_frozen_toxiproxy_does_not_answer_within_the_timeout(silent_listener: str) -> None:
    # Without the client's timeout this call would hang until the suite's timeout.
    with ToxiproxyClient(silent_listener, timeout_s=TIMEOUT_S) as client:
        assert client.answers() is False


def test_a_refused_port_does_not_answer() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host, port = s.getsockname()  # bound, not listening: connections are refused
        with ToxiproxyClient(f"{host}:{port}", timeout_s=TIMEOUT_S) as client:
            assert client.answers() is False
