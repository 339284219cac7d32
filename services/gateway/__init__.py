"""The gateway: one address for clients of the KV, lock and log services (docs/gateway.md).

__main__.py        the node: admission in front, forwarding behind
config.py          tenants, API keys, permissions, limits, the tables below (TOML)
admission.py       authenticate, authorize, rate and concurrency limits, then the shedder
limits/            the limiters, small pure classes with a clock injected
shared.py          a fixed window shared by every replica, leased from the KV store
kv_leases.py       the lease's compare-and-swap, through the gateway's own forwarding
shedder.py         priority load shedding (critical / default / best-effort)
routes.py          which backend serves each method, its leader cache key, stale reads
forwarding.py      bytes to the leader (or any replica), under the call policy
calls.py           the call policy: deadline, workers, bulkheads, breakers, retries, hedging
resilience/        the retry budget (gRFC A6) and the circuit breaker, pure
handler.py         the generic gRPC handler tying admission and forwarding together
envoy_rls.py       Envoy's rate limit API, answered by the same limiters
limits_service.py  the operator's view of the limits (`faultlab gateway limits`)
journal.py         one JSON line per decision, for the limiter checker
metrics.py         Prometheus counters of decisions and forwarded calls
"""
