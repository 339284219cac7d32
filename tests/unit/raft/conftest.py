"""Fixtures for the in-memory hosts (see in_memory.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from services.raft.host import RaftHost
from services.raft.storage import MemoryStorage
from services.raft.transport import MemoryNetwork
from tests.unit.raft.in_memory import FAST, NODES


@pytest.fixture
def network() -> MemoryNetwork:
    return MemoryNetwork()


@pytest.fixture
async def hosts(network: MemoryNetwork) -> AsyncIterator[dict[str, RaftHost]]:
    storages: dict[str, MemoryStorage] = {}

    def storage_for(node: str) -> Callable[[str], MemoryStorage]:
        return lambda group: storages.setdefault(f"{node}:{group}", MemoryStorage())

    out = {n: RaftHost(n, network.transport(n), storage_for(n), FAST) for n in NODES}
    for host in out.values():
        host.start()
    yield out
    for host in out.values():
        await host.stop()
