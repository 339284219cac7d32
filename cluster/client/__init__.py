"""The client SDK: the leader-following call every client shares, and the KV client.

from cluster.client import KvClient, errors
async with KvClient.for_topology(topology) as kv:
    try:
        await kv.put("k", b"v")
    except grpc.aio.AioRpcError as e:
        certainly_not_applied = errors.definite(e)
"""

from cluster.client import errors
from cluster.client.call import GroupCaller, LeaderCache, Session
from cluster.client.kv import LEASE, LINEARIZABLE, STALE, KvClient, SyncKvClient

__all__ = [
    "LEASE",
    "LINEARIZABLE",
    "STALE",
    "GroupCaller",
    "KvClient",
    "LeaderCache",
    "Session",
    "SyncKvClient",
    "errors",
]
