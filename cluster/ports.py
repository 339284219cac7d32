"""Finding a block of free consecutive ports on the loopback interface.

Tests and `faultlab up` with base_port = 0 need a whole block (one per node, per metrics
endpoint, per Toxiproxy link) that no other run is using. We pick a random base below
Linux's ephemeral range (32768+), so outgoing connections never steal our ports, and
check every port of the block by binding it.
"""

from __future__ import annotations

import random
import socket

LOW, HIGH = 15000, 32000
ATTEMPTS = 200


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port_block(span: int, host: str = "127.0.0.1", rng: random.Random | None = None) -> int:
    """The first port of `span` consecutive free ports."""
    rng = rng or random.Random()
    for _ in range(ATTEMPTS):
        base = rng.randrange(LOW, HIGH - span)
        if all(port_is_free(host, p) for p in range(base, base + span)):
            return base
    raise RuntimeError(f"no block of {span} free ports found in {LOW}..{HIGH} on {host}")


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """`n` consecutive free ports (for the peer systems a bench starts: etcd, NATS)."""
    base = free_port_block(n, host)
    return list(range(base, base + n))
