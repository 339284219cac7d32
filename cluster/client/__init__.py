"""The client SDK: the leader-following call every client shares, the KV client, the
lock client and the log client.

from cluster.client import KvClient, errors
async with KvClient.for_topology(topology) as kv:
    try:
        await kv.put("k", b"v")
    except grpc.aio.AioRpcError as e:
        certainly_not_applied = errors.definite(e)

Each name is imported from its module on first use (PEP 562), so a program that uses the
KV client does not load the log and lock clients: `faultlab kv get` answers sooner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cluster.client import errors
    from cluster.client.batching import BatchingProducer
    from cluster.client.call import GroupCaller, LeaderCache, Session
    from cluster.client.kv import LEASE, LINEARIZABLE, STALE, FencedKv, KvClient, SyncKvClient
    from cluster.client.kv_batching import BatchingKv
    from cluster.client.lock import LockBusy, LockClient, LockSession
    from cluster.client.log import IdempotentProducer, LogClient

_MODULE_OF = {
    "LEASE": "kv",
    "LINEARIZABLE": "kv",
    "STALE": "kv",
    "BatchingKv": "kv_batching",
    "BatchingProducer": "batching",
    "FencedKv": "kv",
    "GroupCaller": "call",
    "IdempotentProducer": "log",
    "KvClient": "kv",
    "LeaderCache": "call",
    "LockBusy": "lock",
    "LockClient": "lock",
    "LockSession": "lock",
    "LogClient": "log",
    "Session": "call",
    "SyncKvClient": "kv",
}

__all__ = [
    "LEASE",
    "LINEARIZABLE",
    "STALE",
    "BatchingKv",
    "BatchingProducer",
    "FencedKv",
    "GroupCaller",
    "IdempotentProducer",
    "KvClient",
    "LeaderCache",
    "LockBusy",
    "LockClient",
    "LockSession",
    "LogClient",
    "Session",
    "SyncKvClient",
    "errors",
]


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("cluster.client.errors")
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'cluster.client' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cluster.client.{_MODULE_OF[name]}"), name)
