"""A tenant's read-through cache of KV Gets: the `[tenants.NAME.cache]` table.

    [tenants.acme.cache]
    ttl_ms = { "user/" = 5000, "" = 1000 }  # by key prefix, the longest that matches;
                                   # a key under none is not cached ("" matches every key)
    coalesce = false               # one fill per key at a time; other misses wait for it
    lease = false                  # memcache leases: a miss takes the key's lease and fills;
    lease_wait_ms = 20             # the others get the stale value, or wait this long and
                                   # look again (then fill themselves)
    stale_while_revalidate_ms = 0  # an entry this far past its TTL is still served while
                                   # one refresh runs in the background
    early_expiration_beta = 0.0    # XFetch: a read may refresh before the TTL, the earlier
                                   # the costlier the last fill (0: off; 1: the paper's)
    negative_ttl_ms = 0            # "not found" is cached this long (0: never)
    max_entries = 10000            # the oldest entries go first beyond this

Writes through the gateway and a Watch of the KV store invalidate entries whatever the
switches say (cache/invalidation.py). Every switch is off by default: the unsafe mode of
cache-stampede.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.gateway.settings import flag, number, only
from services.runtime.config import ConfigError

KEYS = {
    "ttl_ms",
    "coalesce",
    "lease",
    "lease_wait_ms",
    "stale_while_revalidate_ms",
    "early_expiration_beta",
    "negative_ttl_ms",
    "max_entries",
}


@dataclass(frozen=True)
class CacheSettings:
    ttl_s_by_prefix: tuple[tuple[str, float], ...]  # longest prefix first
    coalesce: bool = False
    lease: bool = False
    lease_wait_s: float = 0.02
    stale_while_revalidate_s: float = 0.0
    early_expiration_beta: float = 0.0
    negative_ttl_s: float = 0.0
    max_entries: int = 10_000

    def ttl_s(self, key: str) -> float | None:
        """How long `key` is cached, or None when it is not."""
        for prefix, ttl_s in self.ttl_s_by_prefix:
            if key.startswith(prefix):
                return ttl_s
        return None


def parse_cache(spec: Any, where: str) -> CacheSettings:
    only(spec, KEYS, where)
    ttls = spec.get("ttl_ms")
    if not isinstance(ttls, Mapping) or not ttls:
        raise ConfigError(f"{where}: ttl_ms must be a table of key prefix = milliseconds")
    by_prefix = []
    for prefix, ms in ttls.items():
        if isinstance(ms, bool) or not isinstance(ms, int | float) or ms <= 0:
            raise ConfigError(f"{where}: ttl_ms.{prefix!r} must be a positive number, not {ms!r}")
        by_prefix.append((prefix, ms / 1000))
    by_prefix.sort(key=lambda item: len(item[0]), reverse=True)
    settings = CacheSettings(
        ttl_s_by_prefix=tuple(by_prefix),
        coalesce=flag(spec, "coalesce", where, False),
        lease=flag(spec, "lease", where, False),
        lease_wait_s=number(spec, "lease_wait_ms", where, float, 20.0, minimum=0) / 1000,
        stale_while_revalidate_s=number(
            spec, "stale_while_revalidate_ms", where, float, 0.0, minimum=0
        )
        / 1000,
        early_expiration_beta=number(spec, "early_expiration_beta", where, float, 0.0, minimum=0),
        negative_ttl_s=number(spec, "negative_ttl_ms", where, float, 0.0, minimum=0) / 1000,
        max_entries=number(spec, "max_entries", where, int, 10_000, minimum=1),
    )
    return settings
