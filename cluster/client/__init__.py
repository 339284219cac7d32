"""The client SDK: the leader-following call every client shares, the KV client, the
lock client and the log client.

from cluster.client import KvClient, errors
async with KvClient.for_topology(topology) as kv:
    try:
        await kv.put("k", b"v")
    except grpc.aio.AioRpcError as e:
        certainly_not_applied = errors.definite(e)
"""

from cluster.client import errors
from cluster.client.batching import BatchingProducer
from cluster.client.call import GroupCaller, LeaderCache, Session
from cluster.client.kv import LEASE, LINEARIZABLE, STALE, FencedKv, KvClient, SyncKvClient
from cluster.client.kv_batching import BatchingKv
from cluster.client.lock import LockBusy, LockClient, LockSession
from cluster.client.log import IdempotentProducer, LogClient

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
