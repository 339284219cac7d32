"""Three Raft hosts in one event loop, with in-memory storage and transport: the production
driver with no disk and no sockets. Fixtures in conftest.py; helpers here."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from cluster.waiting import wait_until_async
from services.kv import commands
from services.kv.commands import Put
from services.raft.host import RaftHost
from services.raft.node import NodeOptions, RaftNode
from services.raft.storage import MemoryStorage
from services.raft.transport import MemoryNetwork

NODES = ("n1", "n2", "n3")
FAST = NodeOptions(tick_ms=5, election_ticks=10)  # elections in 50-100 ms


async def eventually(condition: Callable[[], object], what: str, timeout_s: float = 5.0) -> None:
    """Poll a synchronous condition on the event loop, with the project's one wait helper."""

    async def check() -> object:
        return condition()

    await wait_until_async(check, timeout_s, what, interval_s=0.005)


def leader_of(hosts: dict[str, RaftHost], group: str) -> RaftNode | None:
    leaders = [h.group(group) for h in hosts.values() if h.group(group).is_leader()]
    return leaders[0] if len(leaders) == 1 else None


async def put(node: RaftNode, key: str, value: bytes) -> object:
    return await node.propose(commands.encode(Put(key, value)))


@contextlib.asynccontextmanager
async def started_hosts(
    network: MemoryNetwork, options: NodeOptions
) -> AsyncIterator[dict[str, RaftHost]]:
    """A host per node of NODES on `network`, each with in-memory storage; stopped after."""
    storages: dict[str, MemoryStorage] = {}

    def storage_for(node: str) -> Callable[[str], MemoryStorage]:
        return lambda group: storages.setdefault(f"{node}:{group}", MemoryStorage())

    out = {n: RaftHost(n, network.transport(n), storage_for(n), options) for n in NODES}
    for host in out.values():
        host.start()
    try:
        yield out
    finally:
        for host in out.values():
            await host.stop()
