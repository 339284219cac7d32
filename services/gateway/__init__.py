"""The gateway: one address for clients of the KV, lock and log services.

__main__.py    the node: admission in front, forwarding behind
config.py      tenants, API keys, permissions, limits (TOML)
admission.py   authenticate, authorize, rate and concurrency limits, then the shedder
limits/        the limiters, small pure classes with a clock injected
shedder.py     priority load shedding (critical / default / best-effort)
routes.py      which backend serves each method, and its leader cache key
forwarding.py  bytes to the leader, following NOT_LEADER, the deadline passed on
handler.py     the generic gRPC handler tying them together
"""
