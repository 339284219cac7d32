"""Concurrent clients that drive the KV store and record what they saw.

Each client is an asyncio task with its own `KvClient` (and so its own session), issuing
reads, writes and compare-and-sets on a few keys at a target rate. A client is either
pinned to one node (no retries, no redirects: what that node answers is what we record)
or follows the leader like a normal client.

Outcomes follow Jepsen's rule: `fail` only when the operation certainly did not happen;
when in doubt, `info`. Which is which is the failure's reason (`cluster.client.errors`,
from the one table in services/runtime/errors.py), never its message.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass
from typing import Any

import grpc

from chaos.history import History, OpType
from cluster.client import LINEARIZABLE, KvClient, errors
from services.runtime.topology import Topology


@dataclass(frozen=True)
class ClientSpec:
    name: str
    node: str | None  # pinned to this node, or None to follow the leader
    reads: bool = True
    writes: bool = True
    consistency: int | None = None  # of its reads; None: the spec's read_consistency


@dataclass(frozen=True)
class WorkloadSpec:
    clients: tuple[ClientSpec, ...]
    keys: tuple[str, ...] = ("k0", "k1", "k2")
    rate_per_client: float = 20.0  # operations per second
    read_consistency: int = LINEARIZABLE
    timeout_s: float = 1.0
    cas_share: float = 0.2


async def run_workload(
    spec: WorkloadSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    values = itertools.count(1)
    await asyncio.gather(
        *(
            _client(c, spec, topology, history, duration_s, random.Random(seed * 1000 + i), values)
            for i, c in enumerate(spec.clients)
        )
    )


async def _client(
    c: ClientSpec,
    spec: WorkloadSpec,
    topology: Topology,
    history: History,
    duration_s: float,
    rng: random.Random,
    values: itertools.count[int],
) -> None:
    addresses = (
        {c.node: topology.client_address(c.node)}
        if c.node
        else {n.id: topology.client_address(n.id) for n in topology.group_nodes("kv")}
    )
    attempts = 1 if c.node else 3
    deadline = time.monotonic() + duration_s
    interval = 1.0 / spec.rate_per_client
    async with KvClient(addresses, timeout_s=spec.timeout_s, attempts=attempts, rng=rng) as kv:
        while time.monotonic() < deadline:
            started = time.monotonic()
            key = rng.choice(spec.keys)
            kinds = (["read"] if c.reads else []) + (["write", "cas"] if c.writes else [])
            kind = rng.choice(kinds)
            if kind == "cas" and rng.random() > spec.cas_share:
                kind = "write"
            if kind == "read":
                consistency = spec.read_consistency if c.consistency is None else c.consistency
                await _read(kv, c, key, consistency, history)
            elif kind == "write":
                await _write(kv, c, key, f"v{next(values)}", history)
            else:
                await _cas(kv, c, key, rng.randrange(0, 4), f"v{next(values)}", history)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def _read(kv: KvClient, c: ClientSpec, key: str, consistency: int, h: History) -> None:
    h.record(c.name, "invoke", "read", key=key, node=c.node)
    try:
        resp = await kv.get(key, consistency)
    except grpc.aio.AioRpcError as e:
        # A read changes nothing, so a read that failed in any way certainly did nothing.
        h.record(c.name, "fail", "read", key=key, node=c.node, **failure_fields(e))
        return
    value = [resp.kv.value.decode(), resp.kv.version] if resp.found else [None, 0]
    h.record(c.name, "ok", "read", key=key, value=value, node=resp.served_by or c.node)


async def _write(kv: KvClient, c: ClientSpec, key: str, value: str, h: History) -> None:
    h.record(c.name, "invoke", "write", key=key, value=value, node=c.node)
    try:
        await kv.put(key, value.encode())
    except grpc.aio.AioRpcError as e:
        h.record(c.name, outcome_of(e), "write", key=key, node=c.node, **failure_fields(e))
        return
    h.record(c.name, "ok", "write", key=key, node=c.node)


async def _cas(kv: KvClient, c: ClientSpec, key: str, version: int, value: str, h: History) -> None:
    h.record(c.name, "invoke", "cas", key=key, value=[version, value], node=c.node)
    try:
        resp = await kv.cas(key, version, value.encode())
    except grpc.aio.AioRpcError as e:
        h.record(c.name, outcome_of(e), "cas", key=key, node=c.node, **failure_fields(e))
        return
    h.record(c.name, "ok", "cas", key=key, value=resp.succeeded, node=c.node)


def failure_fields(e: grpc.aio.AioRpcError) -> dict[str, Any]:
    """What a history records of a failure: its status code and reason."""
    reason = errors.reason_of(e)
    named = {"reason": errors.Reason.Name(reason)} if reason else {}
    return {"error": e.code().name, **named}


def outcome_of(e: grpc.aio.AioRpcError) -> OpType:
    """Jepsen's rule: `fail` only when it certainly did not happen, else `info`."""
    return "fail" if errors.definite(e) else "info"
