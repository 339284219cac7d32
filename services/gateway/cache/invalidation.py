"""What takes entries out of the caches besides their TTL: writes through this gateway
(at once, so a caller reads its own write through the same replica), and one Watch of the
whole KV store per replica, so writes by anyone (other replicas, direct clients, the etcd
API) reach every replica's caches within a watch event's delay.

A Watch that ends (its node killed, a link cut) may have missed events: the caches are
emptied and the Watch opened again from now, after capped, jittered backoff. Entries filled
between the empty and the new Watch's registration on the node could miss an event in that
gap; it is as wide as one connection attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable

import grpc
from faultlab.kv.v1 import kv_pb2

from services.gateway.cache.store import CacheStore
from services.gateway.forwarding import Forwarder
from services.gateway.metrics import CACHE_WATCH_REVISION
from services.gateway.routes import Route
from services.runtime.backoff import Backoff
from services.runtime.errors import ServiceError

log = logging.getLogger("faultlab.gateway.cache")

WATCH_METHOD = "/faultlab.kv.v1.KV/Watch"
RECONNECT = Backoff(0.05, 2.0)


def written_keys(method: str, request: bytes) -> list[str]:
    """The keys a KV write changes, read from its request; none for any other method."""
    name = method.rsplit("/", 1)[-1]
    single = {
        "Put": kv_pb2.PutRequest,
        "Delete": kv_pb2.DeleteRequest,
        "CompareAndSwap": kv_pb2.CompareAndSwapRequest,
        "Append": kv_pb2.AppendRequest,
    }
    if not method.startswith("/faultlab.kv.v1.KV/"):
        return []
    if name in single:
        return [single[name].FromString(request).key]
    if name == "Batch":
        ops = kv_pb2.BatchRequest.FromString(request).ops
        return [getattr(op, op.WhichOneof("op")).key for op in ops if op.WhichOneof("op")]
    return []


async def follow_writes(stores: Iterable[CacheStore], forwarder: Forwarder, route: Route) -> None:
    """Drop every key the KV store reports changed from the caches, for ever."""
    caches = list(stores)
    request = kv_pb2.WatchRequest(prefix="").SerializeToString()
    rng = random.Random()
    failures = 0
    while True:
        CACHE_WATCH_REVISION.set(0)
        for cache in caches:
            cache.clear()
        try:
            async for raw in forwarder.unary_stream(route, request, (), None):
                failures = 0
                event = kv_pb2.WatchEvent.FromString(raw)
                for cache in caches:
                    cache.invalidate(event.kv.key)
                CACHE_WATCH_REVISION.set(event.revision)
        except (grpc.aio.AioRpcError, ServiceError) as e:
            log.info("cache watch ended (%s); caches emptied, watching again", e)
        failures += 1
        await asyncio.sleep(RECONNECT.delay_s(failures, rng))
