"""Clients of a cached configuration value that validate what they read: cache-feedback's
workload (Facebook's 2010 outage).

Each client reads KEY through the gateways in turn, back to back, and validates it (a
value starting with BAD is invalid). What it does with an invalid value or an error is
its policy:

- "delete" (Facebook's clients in 2010): an invalid value *or an error* means the cache
  is wrong: read again at once with `cache-control: no-cache`, which drops the key from
  the gateway's cache and reads the store, until a read comes back valid.
- "keep" (the fix): an invalid value is not served; the client keeps answering with the
  last good value it read, an error is only an error, and both make it back off (capped,
  jittered) before it asks again, through the cache.

Each read is an operation of f "read": ok when the application got a valid value (read
now, or the last good one under "keep", with `kept` set), fail otherwise. Goodput is the
ok reads per second. Between `cut_at_s` and `cut_at_s + cut_s` every client stops (the
operators cutting traffic): once the calls in flight have ended (a client timeout), one
read through each gateway warms its cache, and the clients start again in their normal
state.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from dataclasses import dataclass

import grpc
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from chaos.history import NEMESIS, History
from chaos.workload import failure_fields
from cluster.client.gateway import bearer, gateway_addresses
from services.runtime import tls
from services.runtime.backoff import Backoff
from services.runtime.topology import Topology

KEY = "config/feature"
GOOD, BAD = b"good", b"BAD"
NO_CACHE = (("cache-control", "no-cache"),)
CUT = "cut-traffic"
BACKOFF = Backoff(0.05, 1.0)  # the "keep" policy's, after an invalid value or an error


@dataclass(frozen=True)
class FeedbackSpec:
    api_key: str
    policy: str  # "delete" or "keep"
    clients: int
    timeout_s: float
    cut_at_s: float
    cut_s: float
    backoff: Backoff = BACKOFF


def valid(value: bytes) -> bool:
    return not value.startswith(BAD)


async def run(
    spec: FeedbackSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    addresses = gateway_addresses(topology)
    channels = {
        g: tls.aio_channel(a, interceptors=bearer(spec.api_key)) for g, a in addresses.items()
    }
    started = time.monotonic()
    try:
        await asyncio.gather(
            _cut(spec, channels, history, started),
            *(
                _client(f"client{i}", i, spec, channels, history, started, duration_s, seed)
                for i in range(spec.clients)
            ),
        )
    finally:
        for channel in channels.values():
            await channel.close()


async def _cut(
    spec: FeedbackSpec, channels: dict[str, grpc.aio.Channel], history: History, started: float
) -> None:
    """Cut the traffic, let the calls in flight end, warm the caches, let it back; the
    cut is recorded as a fault of the run, so the report and the plot show it."""
    await asyncio.sleep(max(0.0, started + spec.cut_at_s - time.monotonic()))
    history.record(NEMESIS, "invoke", CUT, value="every client stopped")
    await asyncio.sleep(spec.timeout_s)  # the last calls in flight have ended
    for channel in channels.values():
        with contextlib.suppress(grpc.aio.AioRpcError):
            await kv_pb2_grpc.KVStub(channel).Get(kv_pb2.GetRequest(key=KEY), timeout=1.0)
    await asyncio.sleep(max(0.0, started + spec.cut_at_s + spec.cut_s - time.monotonic()))
    history.record(NEMESIS, "info", CUT, value="caches warmed, clients started again")


async def _client(
    name: str,
    offset: int,
    spec: FeedbackSpec,
    channels: dict[str, grpc.aio.Channel],
    history: History,
    started: float,
    duration_s: float,
    seed: int,
) -> None:
    rng = random.Random(seed * 1000 + offset)
    order = sorted(channels)
    last_good: bytes | None = None
    distrust = False  # "delete": the next read bypasses the cache
    failures = 0  # "keep": consecutive, for the backoff
    for i in itertools.count(offset):
        now = time.monotonic() - started
        if now >= duration_s:
            return
        if spec.cut_at_s <= now < spec.cut_at_s + spec.cut_s:
            await asyncio.sleep(spec.cut_at_s + spec.cut_s - now)
            distrust, failures = False, 0  # started again in the normal state
            continue
        gateway = order[i % len(order)]
        stub = kv_pb2_grpc.KVStub(channels[gateway])
        metadata = NO_CACHE if distrust else ()
        history.record(name, "invoke", "read", key=KEY, node=gateway, value=bool(metadata))
        try:
            got = await stub.Get(
                kv_pb2.GetRequest(key=KEY), timeout=spec.timeout_s, metadata=metadata
            )
        except grpc.aio.AioRpcError as e:
            failures += 1
            if spec.policy == "delete":
                distrust = True  # the error read as an invalid value
                history.record(name, "fail", "read", node=gateway, **failure_fields(e))
                continue
            if last_good is not None:
                history.record(name, "ok", "read", node=gateway, value="kept")
            else:
                history.record(name, "fail", "read", node=gateway, **failure_fields(e))
            await asyncio.sleep(spec.backoff.delay_s(failures, rng))
            continue
        if valid(got.kv.value):
            last_good, distrust, failures = got.kv.value, False, 0
            history.record(name, "ok", "read", node=gateway, value=got.kv.value.decode())
            continue
        failures += 1
        if spec.policy == "delete":
            distrust = True
            history.record(name, "fail", "read", node=gateway, value="invalid")
            continue
        if last_good is not None:
            history.record(name, "ok", "read", node=gateway, value="kept")
        else:
            history.record(name, "fail", "read", node=gateway, value="invalid")
        await asyncio.sleep(spec.backoff.delay_s(failures, rng))
