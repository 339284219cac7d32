"""The parent's side of chaos/kafka_client.py: a real Kafka client in a process of its own,
its events replayed into the run's history as they come, its other lines kept for
`wait_for` (a consumer saying it is ready to be paused)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator

from chaos.group_consumer import ConsumerProcess
from chaos.history import History
from cluster.launcher import child_pythonpath
from services.runtime.topology import Topology

# A final read prints a partition in one line: a 30 s run's is megabytes.
LINE_LIMIT_BYTES = 256 * 1024 * 1024


class KafkaClient(ConsumerProcess):
    def close_stdin(self) -> None:
        """The client's signal to finish: a producer stops sending, flushes and exits; a
        consumer commits, leaves its group and exits."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def finish(self, timeout_s: float) -> int:
        """Its exit code once every line it printed is in the history."""
        self.close_stdin()
        async with asyncio.timeout(timeout_s):
            await self._reader
            return await self.proc.wait()


def bootstrap(topology: Topology) -> str:
    return ",".join(topology.wire_addresses("log"))


@contextlib.asynccontextmanager
async def kafka_client(
    history: History, topology: Topology, role: str, topic: str, *args: str, lib: str = "confluent"
) -> AsyncIterator[KafkaClient]:
    """`python -m chaos.kafka_client LIB ROLE ...` against the cluster's Kafka ports;
    killed on the way out if it still runs."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chaos.kafka_client",
        lib,
        role,
        bootstrap(topology),
        topic,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": child_pythonpath()},
        limit=LINE_LIMIT_BYTES,
    )
    client = KafkaClient(proc, history)
    try:
        yield client
    finally:
        await client.reap()
        await asyncio.gather(client._reader, return_exceptions=True)
