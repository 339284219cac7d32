"""Fixtures for the in-memory hosts (see in_memory.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.raft.host import RaftHost
from services.raft.transport import MemoryNetwork
from tests.unit.raft.in_memory import FAST, started_hosts


@pytest.fixture
def network() -> MemoryNetwork:
    return MemoryNetwork()


@pytest.fixture
async def hosts(network: MemoryNetwork) -> AsyncIterator[dict[str, RaftHost]]:
    async with started_hosts(network, FAST) as out:
        yield out
