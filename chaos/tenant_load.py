"""Two tenants through one gateway: a quiet one calling at a steady rate within its limit,
and a noisy one flooding at many times its own. What the quiet one got (admitted calls,
latencies) says whether the gateway isolates tenants; tests judge the counts, bench/
the latencies.

    quiet, noisy = await neighbours(address, QUIET, NOISY, seconds=5.0)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from cluster.client import errors
from cluster.client.gateway import bearer
from services.runtime import tls

RATE_LIMITED = errors.Reason.Value("RATE_LIMITED")


@dataclass(frozen=True)
class Tenant:
    api_key: str
    rate_per_s: float  # calls begun per second (quiet), or 0: as fast as `callers` go
    callers: int = 1


@dataclass(frozen=True)
class Answer:
    admitted: bool
    latency_s: float


async def _call(stub: kv_pb2_grpc.KVStub) -> Answer:
    started = time.monotonic()
    try:
        await stub.Get(kv_pb2.GetRequest(key="isolation", consistency=kv_pb2.STALE), timeout=5)
    except grpc.aio.AioRpcError as e:
        if errors.reason_of(e) != RATE_LIMITED:
            raise
        return Answer(False, time.monotonic() - started)
    return Answer(True, time.monotonic() - started)


async def _paced(stub: kv_pb2_grpc.KVStub, rate_per_s: float, until: float) -> list[Answer]:
    """One call every 1/rate seconds, each its own task: a slow answer does not slow the
    pace (an open-loop client, so queueing at the gateway shows in latency)."""
    tasks = []
    next_at = time.monotonic()
    while next_at < until:
        tasks.append(asyncio.ensure_future(_call(stub)))
        next_at += 1 / rate_per_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return list(await asyncio.gather(*tasks))


async def _flooding(stub: kv_pb2_grpc.KVStub, until: float) -> list[Answer]:
    out = []
    while time.monotonic() < until:
        out.append(await _call(stub))
    return out


async def drive(address: str, tenant: Tenant, seconds: float) -> list[Answer]:
    async with tls.aio_channel(address, interceptors=bearer(tenant.api_key)) as ch:
        stub = kv_pb2_grpc.KVStub(ch)
        until = time.monotonic() + seconds
        if tenant.rate_per_s > 0:
            return await _paced(stub, tenant.rate_per_s, until)
        runs = await asyncio.gather(*(_flooding(stub, until) for _ in range(tenant.callers)))
        return [a for run in runs for a in run]


async def neighbours(
    address: str, quiet: Tenant, noisy: Tenant | None, seconds: float
) -> tuple[list[Answer], list[Answer]]:
    """Both tenants at once (or the quiet one alone): what each got."""
    if noisy is None:
        return await drive(address, quiet, seconds), []
    got = await asyncio.gather(drive(address, quiet, seconds), drive(address, noisy, seconds))
    return got[0], got[1]
