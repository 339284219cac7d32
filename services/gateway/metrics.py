"""The gateway's Prometheus metrics: its decisions per tenant, and the forwarded calls."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter(
    "faultlab_gateway_decisions_total",
    "Calls decided at the gateway, by tenant and outcome (forwarded, or the refusal's reason)",
    ["tenant", "outcome"],
)
FORWARD_SECONDS = Histogram(
    "faultlab_gateway_forward_seconds",
    "Time to a backend's answer, redirects included",
    ["backend"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
IN_FLIGHT = Gauge("faultlab_gateway_in_flight", "Calls being forwarded now")
CACHE = Counter(
    "faultlab_gateway_cache_total",
    "Cached KV Gets by tenant and outcome: hit, stale and coalesced cost no backend call; "
    "miss and refresh cost one (cache/read_through.py)",
    ["tenant", "outcome"],
)
CACHE_WATCH_REVISION = Gauge(
    "faultlab_gateway_cache_watch_revision",
    "The KV revision of the last write the caches' Watch delivered; 0 while it is not "
    "watching (a caller that waits for its write's revision here knows no late "
    "invalidation of it is still on its way)",
)
