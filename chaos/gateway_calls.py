"""Callers through the gateways: the workload of the gateway experiments.

Each caller makes one call after another (closed loop, optionally paced) through the
gateway replicas in turn, and records each as an operation of f "call": ok, or a
failure with its reason (RATE_LIMITED, OVERLOADED, ...). The gateway's own decisions are
in its journal (services/gateway/journal.py); the history is what callers saw.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc
from faultlab.lock.v1 import lock_pb2, lock_pb2_grpc

from chaos.history import History
from chaos.workload import failure_fields, outcome_of
from cluster.client.gateway import bearer, gateway_addresses
from services.runtime import tls
from services.runtime.topology import Topology


@dataclass(frozen=True)
class GatewayLoadSpec:
    api_key: str
    callers: int = 8
    timeout_s: float = 1.0
    call: str = "lock-sessions"  # "kv-get" (the leader answers), "kv-stale-get" (any replica)
    priority: str | None = None  # x-priority of every call
    name: str = "c"  # callers are processes NAME0, NAME1, ...
    pause_on_refusal_s: float = 0.0  # after RESOURCE_EXHAUSTED, as a polite client would


Call = Callable[[grpc.aio.Channel, float], Awaitable[object]]


def _lock_sessions(channel: grpc.aio.Channel, timeout_s: float) -> Awaitable[object]:
    stub = lock_pb2_grpc.LockStub(channel)
    return stub.ListSessions(lock_pb2.ListSessionsRequest(), timeout=timeout_s)  # type: ignore[no-any-return]


HOT_KEY = "gateway/read"  # the one key the KV calls read


def _kv_stale_get(channel: grpc.aio.Channel, timeout_s: float) -> Awaitable[object]:
    read = kv_pb2.GetRequest(key=HOT_KEY, consistency=kv_pb2.STALE)
    return kv_pb2_grpc.KVStub(channel).Get(read, timeout=timeout_s)  # type: ignore[no-any-return]


def _kv_get(channel: grpc.aio.Channel, timeout_s: float) -> Awaitable[object]:
    read = kv_pb2.GetRequest(key=HOT_KEY)  # linearizable: the leader answers
    return kv_pb2_grpc.KVStub(channel).Get(read, timeout=timeout_s)  # type: ignore[no-any-return]


CALLS: dict[str, Call] = {
    "lock-sessions": _lock_sessions,
    "kv-stale-get": _kv_stale_get,
    "kv-get": _kv_get,
}


async def run(
    spec: GatewayLoadSpec | tuple[GatewayLoadSpec, ...],
    topology: Topology,
    history: History,
    duration_s: float,
    seed: int,
) -> None:
    """One group of callers, or several side by side (tenants with different calls)."""
    specs = spec if isinstance(spec, tuple) else (spec,)
    await asyncio.gather(*(_group(s, topology, history, duration_s) for s in specs))


async def _group(
    spec: GatewayLoadSpec, topology: Topology, history: History, duration_s: float
) -> None:
    gateways = gateway_addresses(topology)
    credentials = bearer(spec.api_key, spec.priority)
    channels = {g: tls.aio_channel(a, interceptors=credentials) for g, a in gateways.items()}
    deadline = time.monotonic() + duration_s
    try:
        await asyncio.gather(
            *(
                _caller(f"{spec.name}{i}", i, spec, channels, history, deadline)
                for i in range(spec.callers)
            )
        )
    finally:
        for channel in channels.values():
            await channel.close()


async def _caller(
    name: str,
    offset: int,
    spec: GatewayLoadSpec,
    channels: dict[str, grpc.aio.Channel],
    history: History,
    deadline: float,
) -> None:
    order = sorted(channels)
    for i in itertools.count(offset):
        if time.monotonic() >= deadline:
            return
        gateway = order[i % len(order)]
        history.record(name, "invoke", "call", node=gateway)
        try:
            answer = await CALLS[spec.call](channels[gateway], spec.timeout_s)
        except grpc.aio.AioRpcError as e:
            history.record(name, outcome_of(e), "call", node=gateway, **failure_fields(e))
            if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and spec.pause_on_refusal_s:
                await asyncio.sleep(spec.pause_on_refusal_s)
            continue
        # The node that served it: the replica that answered a KV read, else the gateway.
        history.record(name, "ok", "call", node=getattr(answer, "served_by", "") or gateway)
