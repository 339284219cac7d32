"""The gateway's read-through cache of KV Gets, one per tenant that configures one
(settings.py): entries (store.py), the read path and its mitigations (read_through.py),
invalidation by writes and by a Watch (invalidation.py). docs/gateway.md, "The cache"."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping

from faultlab.kv.v1 import kv_pb2

from services.gateway.cache.read_through import Answer, ReadThrough
from services.gateway.cache.settings import CacheSettings
from services.gateway.cache.store import CacheStore

GET_METHOD = "/faultlab.kv.v1.KV/Get"


def _found_in(response: bytes) -> bool:
    return bool(kv_pb2.GetResponse.FromString(response).found)


class TenantCaches:
    """Each tenant's own cache: tenants may be allowed different keys, so none reads
    what another's calls filled."""

    def __init__(self, settings: Mapping[str, CacheSettings]) -> None:
        self.settings = dict(settings)
        self._caches = {
            tenant: ReadThrough(
                CacheStore(time.monotonic, lambda: 1.0 - random.random(), s.max_entries),
                _found_in,
            )
            for tenant, s in self.settings.items()
        }

    def __bool__(self) -> bool:
        return bool(self._caches)

    def of(self, tenant: str) -> tuple[CacheSettings, ReadThrough] | None:
        cache = self._caches.get(tenant)
        return None if cache is None else (self.settings[tenant], cache)

    def stores(self) -> list[CacheStore]:
        return [c.store for c in self._caches.values()]

    def invalidate(self, keys: list[str]) -> None:
        for cache in self._caches.values():
            for key in keys:
                cache.store.invalidate(key)

    async def close(self) -> None:
        for cache in self._caches.values():
            await cache.close()


__all__ = ["GET_METHOD", "Answer", "CacheSettings", "TenantCaches"]
