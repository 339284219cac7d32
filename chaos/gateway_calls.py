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
from dataclasses import dataclass

import grpc
from faultlab.lock.v1 import lock_pb2, lock_pb2_grpc

from chaos.history import History
from chaos.workload import failure_fields, outcome_of
from cluster.client.gateway import bearer, gateway_addresses
from services.runtime.topology import Topology


@dataclass(frozen=True)
class GatewayLoadSpec:
    api_key: str
    callers: int = 8
    timeout_s: float = 1.0


async def run(spec: GatewayLoadSpec, topology: Topology, history: History, duration_s: float,
              seed: int) -> None:  # fmt: skip
    gateways = gateway_addresses(topology)
    channels = {g: grpc.aio.insecure_channel(a, interceptors=bearer(spec.api_key))
                for g, a in gateways.items()}  # fmt: skip
    deadline = time.monotonic() + duration_s
    try:
        await asyncio.gather(*(_caller(f"c{i}", i, spec, channels, history, deadline)
                               for i in range(spec.callers)))  # fmt: skip
    finally:
        for channel in channels.values():
            await channel.close()


async def _caller(name: str, offset: int, spec: GatewayLoadSpec,
                  channels: dict[str, grpc.aio.Channel], history: History,
                  deadline: float) -> None:  # fmt: skip
    order = sorted(channels)
    for i in itertools.count(offset):
        if time.monotonic() >= deadline:
            return
        gateway = order[i % len(order)]
        stub = lock_pb2_grpc.LockStub(channels[gateway])
        history.record(name, "invoke", "call", node=gateway)
        try:
            await stub.ListSessions(lock_pb2.ListSessionsRequest(), timeout=spec.timeout_s)
        except grpc.aio.AioRpcError as e:
            history.record(name, outcome_of(e), "call", node=gateway, **failure_fields(e))
            continue
        history.record(name, "ok", "call", node=gateway)
