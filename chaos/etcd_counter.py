"""A counter kept in etcd and incremented under etcd's concurrency.Mutex by etcd's own Go
client (chaos/goclients/etcdclient, counter.go): each contender a process of its own
against the KV nodes' etcd API, its lock, read, write and unlock recorded as it prints
them; after the run, the counter read once more. etcd-lock-pause's pieces, and the
scenario API's `workloads.etcd_counter`; judged by chaos/checkers/counter.py (no
acknowledged increment lost, no value written twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc

from chaos import locking
from chaos.child import ChildProcess
from chaos.goclients import built
from chaos.history import History
from services.runtime import tls
from services.runtime.topology import Topology

KEY = "/faultlab/counter"
LOCK = "/faultlab/counter-lock"
FINAL = "final"
STEP_S = 20.0  # the most any one step (a turn, the final read) may wait


@dataclass(frozen=True)
class EtcdCounterSpec:
    fenced: bool  # each write a Txn guarded by Mutex.IsOwner (etcd's fencing)
    contenders: int = 2
    ttl_s: int = 5  # each contender's session lease
    key: str = KEY
    lock: str = LOCK


def endpoints(topology: Topology) -> str:
    return ",".join(topology.client_address(n.id) for n in topology.nodes if n.group == "kv")


class GoClient(ChildProcess):
    """A running counter client: what it prints goes into the history."""

    def __init__(self, proc: asyncio.subprocess.Process, history: History) -> None:
        super().__init__(proc)
        self.history = history

    async def until(self, field: str, timeout_s: float) -> dict[str, object]:
        """Record its events until it prints a line with `field`; that line."""
        async with asyncio.timeout(timeout_s):
            while line := await self._line():
                event = locking.replay(line, self.history)
                if event is None and field in line:
                    return dict(json.loads(line))
        raise RuntimeError(f"the client exited ({await self.proc.wait()}) before {field!r}")

    async def finish(self, timeout_s: float) -> int:
        async with asyncio.timeout(timeout_s):
            while line := await self._line():
                locking.replay(line, self.history)
            return await self.proc.wait()

    async def _line(self) -> str:
        assert self.proc.stdout is not None
        return (await self.proc.stdout.readline()).decode()


@contextlib.asynccontextmanager
async def go_client(
    topology: Topology, history: History, spec: EtcdCounterSpec, *args: str
) -> AsyncIterator[GoClient]:
    proc = await asyncio.create_subprocess_exec(
        str(built("etcdclient")),
        "counter",
        *("-endpoints", endpoints(topology), "-key", spec.key, "-lock", spec.lock),
        *(["-fenced"] if spec.fenced else []),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    client = GoClient(proc, history)
    try:
        yield client
    finally:
        await client.reap()


@contextlib.asynccontextmanager
async def contenders(
    spec: EtcdCounterSpec, topology: Topology, history: History, duration_s: float
) -> AsyncIterator[list[asyncio.Task[int]]]:
    """The contenders, started, each incrementing for `duration_s`: the tasks that end
    with their exit codes."""
    async with contextlib.AsyncExitStack() as stack:
        started = [
            await stack.enter_async_context(
                go_client(
                    topology,
                    history,
                    spec,
                    *("-process", f"client-{i}", "-ttl", str(spec.ttl_s)),
                    *("-duration-s", str(duration_s)),
                )
            )
            for i in range(1, spec.contenders + 1)
        ]
        yield [asyncio.create_task(c.finish(duration_s + STEP_S)) for c in started]


async def run(
    spec: EtcdCounterSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    async with contenders(spec, topology, history, duration_s) as running:
        await asyncio.gather(*running)
    await read_final(spec, topology, history)


@contextlib.asynccontextmanager
async def kv_stub(topology: Topology) -> AsyncIterator[rpc_pb2_grpc.KVStub]:
    address = endpoints(topology).split(",")[0]
    async with tls.aio_channel(address) as channel:
        yield rpc_pb2_grpc.KVStub(channel)


async def read_final(spec: EtcdCounterSpec, topology: Topology, history: History) -> None:
    history.record(FINAL, "invoke", "read", key=spec.key)
    async with kv_stub(topology) as kv:
        answer = await kv.Range(rpc_pb2.RangeRequest(key=spec.key.encode()), timeout=STEP_S)
    value = int(answer.kvs[0].value) if answer.kvs else 0
    history.record(FINAL, "ok", "read", key=spec.key, value=value)
