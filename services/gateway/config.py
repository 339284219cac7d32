"""The gateway's tenants, keys, permissions and limits: one TOML file, checked at start.

    [shedding]                     # the priority load shedder (shedder.py)
    capacity = 256                 # calls in flight through this gateway replica
    critical_reserve = 0.2         # this share of capacity only critical calls may use
    best_effort_share = 0.5        # best-effort calls stop once this share is in use

    [tenants.acme]
    keys = ["acme-key-1"]          # `authorization: Bearer acme-key-1`
    allow = ["faultlab.kv.v1.KV/*"]    # full method names; * and ? as in shell patterns
    concurrency = 32               # this tenant's calls in flight, at most
    limit = { algorithm = "token_bucket", rate_per_s = 100, burst = 200 }
    [tenants.acme.methods."faultlab.kv.v1.KV/Put"]   # a further limit on one method
    algorithm = "fixed_window"
    limit = 50
    window_s = 1.0
    shared = true                  # over all replicas, leased from the KV store (shared.py)
    on_store_failure = "fail_closed"   # optional: this limit's own policy
    [tenants.acme.cache]           # a read-through cache of its KV Gets (cache/settings.py)
    ttl_ms = { "user/" = 5000 }

    [sharing]                      # how shared limits use the KV store
    replicas = 0                   # 0: the gateway group's size in the topology
    on_store_failure = "local_share"   # fail_open | fail_closed | local_share | local_full
    lease_batch = 10               # tokens per lease
    store_timeout_ms = 100         # the longest a decision waits for the store
    store_retry_ms = 1000          # after a failure, ask the store again this much later

How the gateway calls its backends (retries, breakers, bulkheads, hedging) is the
`[calls]` table, in calls.py. The file is FAULTLAB_GATEWAY_CONFIG, else `default.toml`
beside this module. Any problem raises `ConfigError` naming the key, and the node exits 2
before serving.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from services.gateway.cache.settings import CacheSettings, parse_cache
from services.gateway.calls import CallPolicy, parse_calls
from services.gateway.limits import (
    Clock,
    Decision,
    FixedWindow,
    LeakyBucket,
    SlidingLog,
    SlidingWindowCounter,
    TokenBucket,
)
from services.gateway.settings import number, only, strings
from services.gateway.shared import OnStoreFailure, Sharing
from services.runtime.config import ConfigError

CONFIG_ENV = "FAULTLAB_GATEWAY_CONFIG"
DEFAULT_CONFIG = Path(__file__).with_name("default.toml")


class RateLimiter(Protocol):
    def take(self, n: int = 1) -> Decision:
        """Take n (0: read the state without taking anything)."""
        ...


# algorithm -> (its parameters, how to build it)
_RATE = ("rate_per_s", "burst")
_WINDOW = ("limit", "window_s")
_COUNTS = {"burst", "limit"}  # whole requests
ALGORITHMS: dict[str, tuple[tuple[str, ...], Any]] = {
    "token_bucket": (_RATE, TokenBucket),
    "leaky_bucket": (_RATE, LeakyBucket),
    "fixed_window": (_WINDOW, FixedWindow),
    "sliding_log": (_WINDOW, SlidingLog),
    "sliding_window": (_WINDOW, SlidingWindowCounter),
}


@dataclass(frozen=True)
class LimitSpec:
    algorithm: str
    params: tuple[tuple[str, float], ...]  # in the order the limiter's constructor takes
    shared: bool = False  # one limit over every replica (fixed_window only)
    on_store_failure: OnStoreFailure | None = None  # this limit's own; else [sharing]'s

    def build(self, clock: Clock) -> RateLimiter:
        _, make = ALGORITHMS[self.algorithm]
        limiter: RateLimiter = make(*(value for _, value in self.params), clock)
        return limiter


@dataclass(frozen=True)
class Tenant:
    name: str
    keys: tuple[str, ...]
    allow: tuple[str, ...]  # method name patterns
    limit: LimitSpec | None = None
    methods: dict[str, LimitSpec] = field(default_factory=dict)
    concurrency: int | None = None
    cache: CacheSettings | None = None

    def allows(self, method: str) -> bool:
        name = method.lstrip("/")
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allow)


@dataclass(frozen=True)
class Shedding:
    capacity: int = 256
    critical_reserve: float = 0.2
    best_effort_share: float = 0.5


@dataclass(frozen=True)
class GatewayConfig:
    tenants: dict[str, Tenant]
    shedding: Shedding = field(default_factory=Shedding)
    sharing: Sharing = field(default_factory=Sharing)
    calls: CallPolicy = field(default_factory=CallPolicy)

    def tenant_for_key(self) -> dict[str, Tenant]:
        return {key: t for t in self.tenants.values() for key in t.keys}


def load(path: Path | None = None) -> GatewayConfig:
    """The configuration from `path`, else $FAULTLAB_GATEWAY_CONFIG, else the default."""
    chosen = path or Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    try:
        text = chosen.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read gateway config {chosen}: {e.strerror}") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{chosen}: not valid TOML: {e}") from e
    return parse(data, str(chosen))


def parse(data: Mapping[str, Any], source: str = "<gateway config>") -> GatewayConfig:
    only(data, {"calls", "shedding", "sharing", "tenants"}, source)
    shedding = _shedding(data.get("shedding", {}), f"{source} [shedding]")
    sharing = _sharing(data.get("sharing", {}), f"{source} [sharing]")
    raw = data.get("tenants")
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{source}: needs at least one [tenants.NAME] table")
    tenants = {
        name: _tenant(name, spec, f"{source} [tenants.{name}]") for name, spec in raw.items()
    }
    seen: dict[str, str] = {}
    for tenant in tenants.values():
        for key in tenant.keys:
            if key in seen:
                raise ConfigError(f"{source}: key {key!r} belongs to {seen[key]} and {tenant.name}")
            seen[key] = tenant.name
    calls = parse_calls(data.get("calls", {}), f"{source} [calls]")
    return GatewayConfig(tenants, shedding, sharing, calls)


def _sharing(spec: Any, where: str) -> Sharing:
    keys = {"replicas", "on_store_failure", "lease_batch", "store_timeout_ms", "store_retry_ms"}
    only(spec, keys, where)
    d = Sharing()
    on_failure = _policy(spec.get("on_store_failure", d.on_store_failure.value), where)
    sharing = Sharing(
        replicas=number(spec, "replicas", where, int, d.replicas),
        on_store_failure=on_failure,
        lease_batch=number(spec, "lease_batch", where, int, d.lease_batch),
        store_timeout_s=number(spec, "store_timeout_ms", where, float, d.store_timeout_s * 1000)
        / 1000,
        store_retry_s=number(spec, "store_retry_ms", where, float, d.store_retry_s * 1000) / 1000,
    )
    if sharing.replicas < 0 or sharing.lease_batch < 1:
        raise ConfigError(f"{where}: need replicas >= 0 and lease_batch >= 1")
    if sharing.store_timeout_s <= 0 or sharing.store_retry_s < 0:
        raise ConfigError(f"{where}: need store_timeout_ms > 0 and store_retry_ms >= 0")
    return sharing


def _policy(value: Any, where: str) -> OnStoreFailure:
    try:
        return OnStoreFailure(value)
    except ValueError:
        allowed = ", ".join(p.value for p in OnStoreFailure)
        raise ConfigError(
            f"{where}: on_store_failure must be one of {allowed}, not {value!r}"
        ) from None


def _shedding(spec: Any, where: str) -> Shedding:
    only(spec, {"capacity", "critical_reserve", "best_effort_share"}, where)
    defaults = Shedding()
    capacity = number(spec, "capacity", where, int, defaults.capacity)
    reserve = number(spec, "critical_reserve", where, float, defaults.critical_reserve)
    best_effort = number(spec, "best_effort_share", where, float, defaults.best_effort_share)
    if capacity < 1:
        raise ConfigError(f"{where}: capacity must be at least 1, not {capacity}")
    if not 0 <= reserve < 1 or not 0 < best_effort <= 1 - reserve:
        raise ConfigError(
            f"{where}: need 0 <= critical_reserve < 1 and "
            f"0 < best_effort_share <= 1 - critical_reserve, not {reserve}, {best_effort}"
        )
    return Shedding(capacity, reserve, best_effort)


def _tenant(name: str, spec: Any, where: str) -> Tenant:
    only(spec, {"keys", "allow", "limit", "methods", "concurrency", "cache"}, where)
    keys = strings(spec, "keys", where)
    if not keys:
        raise ConfigError(f"{where}: keys must list at least one API key")
    allow = strings(spec, "allow", where)
    limit = _limit(spec["limit"], f"{where} limit") if "limit" in spec else None
    methods_spec = spec.get("methods", {})
    only(methods_spec, set(methods_spec), f"{where} methods")
    methods = {m.lstrip("/"): _limit(s, f"{where} methods.{m!r}") for m, s in methods_spec.items()}
    concurrency = number(spec, "concurrency", where, int, None)
    if concurrency is not None and concurrency < 1:
        raise ConfigError(f"{where}: concurrency must be at least 1, not {concurrency}")
    cache = parse_cache(spec["cache"], f"{where} cache") if "cache" in spec else None
    return Tenant(name, keys, allow, limit, methods, concurrency, cache)


def _limit(spec: Any, where: str) -> LimitSpec:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: must be a table")
    algorithm = spec.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise ConfigError(
            f"{where}: algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}"
        )
    names, make = ALGORITHMS[algorithm]
    only(spec, {"algorithm", "shared", "on_store_failure", *names}, where)
    shared = spec.get("shared", False)
    if not isinstance(shared, bool):
        raise ConfigError(f"{where}: shared must be true or false, not {shared!r}")
    if shared and algorithm != "fixed_window":
        raise ConfigError(f"{where}: only a fixed_window limit can be shared, not {algorithm}")
    on_failure = _policy(spec["on_store_failure"], where) if "on_store_failure" in spec else None
    if on_failure is not None and not shared:
        raise ConfigError(f"{where}: on_store_failure applies to a shared limit only")
    missing = [n for n in names if n not in spec]
    if missing:
        raise ConfigError(f"{where}: {algorithm} needs {', '.join(missing)}")
    params = tuple((n, number(spec, n, where, int if n in _COUNTS else float, None)) for n in names)
    try:  # the limiter's own checks (rate > 0, burst >= 1, ...), made now, not per call
        make(*(v for _, v in params), lambda: 0.0)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from e
    return LimitSpec(algorithm, params, shared, on_failure)
