"""Where each forwarded method goes: the backend group that serves it, the kind of call
(unary or streaming), and the key the gateway caches a leader under.

The gateway forwards bytes and never builds a backend's response, but it does read a log
request's topic and partition: each partition is its own Raft group with its own leader.
The key is only a cache key, so a wrong guess costs one NOT_LEADER redirect, no more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faultlab.kv.v1 import kv_pb2
from faultlab.lock.v1 import lock_pb2
from faultlab.log.v1 import log_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError

from services.runtime.errors import InvalidArgument

RouteKey = Callable[[bytes], str]

_LOG_META = {"CreateTopic", "DeleteTopic", "ListTopics", "DescribeTopic", "InitProducer"}
_LOG_GROUPS = {
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "CommitOffsets",
    "FetchOffsets",
    "ListGroups",
}


@dataclass(frozen=True)
class Route:
    method: str  # "/faultlab.kv.v1.KV/Put"
    backend: str  # the topology group that serves it
    client_streaming: bool
    server_streaming: bool
    key: RouteKey  # request bytes -> leader cache key
    # request bytes -> True when any replica may answer it (a stale read): spread over
    # the replicas, and hedged when the policy says so.
    any_replica: Callable[[bytes], bool] = lambda request: False
    # request bytes -> True when a repeat cannot apply twice (a read, a write with a
    # session or a producer id): the leader-following table retries such a request after
    # an unknown outcome (services/runtime/leader_following.py).
    idempotent: Callable[[bytes], bool] = lambda request: False


def _fixed(key: str) -> RouteKey:
    return lambda request: key


def _parsed(request_class: Any, request: bytes) -> Any:
    """The request, read for routing; bytes that are not one are the caller's bad input."""
    try:
        return request_class.FromString(request)
    except DecodeError as e:
        raise InvalidArgument(f"the request is not a valid {request_class.__name__}: {e}") from e


def _log_partition(method: MethodDescriptor) -> RouteKey:
    request_class = message_factory.GetMessageClass(method.input_type)

    def key(request: bytes) -> str:
        parsed = _parsed(request_class, request)
        if parsed.partition < 0:
            return "log/any"  # keyed: the broker picks the partition
        return f"log/{parsed.topic}/{parsed.partition}"

    return key


def _first_batch_partition(request: bytes) -> str:
    """ProduceMany goes where its first batch's partition is led: a client sends one
    call per leader, and the leader answers NOT_LEADER for any batch it does not lead."""
    batches = _parsed(log_pb2.ProduceManyRequest, request).batches
    if not batches or batches[0].partition < 0:
        return "log/any"
    return f"log/{batches[0].topic}/{batches[0].partition}"


def _route_key(backend: str, method: MethodDescriptor) -> RouteKey:
    if backend != "log":
        return _fixed(backend)  # KV and locks: one Raft group each
    if method.name in _LOG_META:
        return _fixed("log/meta")
    if method.name in _LOG_GROUPS:
        return _fixed("log/groups")
    if method.name == "ProduceMany":
        return _first_batch_partition
    return _log_partition(method)


_STALE_READS = {
    "/faultlab.kv.v1.KV/Get": kv_pb2.GetRequest,
    "/faultlab.kv.v1.KV/Range": kv_pb2.RangeRequest,
}


def _stale(request_class: Any) -> Callable[[bytes], bool]:
    return lambda request: _parsed(request_class, request).consistency == kv_pb2.STALE


# Requests a repeat leaves as they were: reads, a heartbeat, a commit of the same offsets.
_REPEATABLE = {
    "/faultlab.kv.v1.KV/Get",
    "/faultlab.kv.v1.KV/Range",
    "/faultlab.kv.v1.KV/Watch",
    "/faultlab.lock.v1.Lock/ListSessions",
    "/faultlab.lock.v1.Lock/Holder",
    "/faultlab.lock.v1.Lock/Watch",
    "/faultlab.log.v1.Log/ListTopics",
    "/faultlab.log.v1.Log/DescribeTopic",
    "/faultlab.log.v1.Log/Fetch",
    "/faultlab.log.v1.Log/Subscribe",
    "/faultlab.log.v1.Log/Heartbeat",
    "/faultlab.log.v1.Log/CommitOffsets",
    "/faultlab.log.v1.Log/FetchOffsets",
    "/faultlab.log.v1.Log/ListGroups",
}
# Writes a repeat leaves as they were when they carry what deduplicates them.
_DEDUPLICATED_BY: dict[str, tuple[Any, Callable[[Any], bool]]] = {
    **{
        f"/faultlab.kv.v1.KV/{name}": (request, lambda r: r.HasField("session"))
        for name, request in (
            ("Put", kv_pb2.PutRequest),
            ("Delete", kv_pb2.DeleteRequest),
            ("CompareAndSwap", kv_pb2.CompareAndSwapRequest),
            ("Append", kv_pb2.AppendRequest),
            ("Batch", kv_pb2.BatchRequest),
        )
    },
    "/faultlab.lock.v1.Lock/Acquire": (lock_pb2.AcquireRequest, lambda r: r.seq != 0),
    "/faultlab.lock.v1.Lock/Release": (lock_pb2.ReleaseRequest, lambda r: r.seq != 0),
    "/faultlab.log.v1.Log/Produce": (log_pb2.ProduceRequest, lambda r: r.HasField("producer")),
}


def _idempotent(method: str) -> Callable[[bytes], bool]:
    if method in _REPEATABLE:
        return lambda request: True
    deduplicated = _DEDUPLICATED_BY.get(method)
    if deduplicated is None:
        return lambda request: False  # CreateSession, InitProducer, JoinGroup, ...
    request_class, deduplicates = deduplicated
    return lambda request: deduplicates(_parsed(request_class, request))


def build_routes() -> dict[str, Route]:
    routes = {}
    for backend, file in (("kv", kv_pb2), ("lock", lock_pb2), ("log", log_pb2)):
        for service in file.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                name = f"/{service.full_name}/{method.name}"
                streaming = (method.client_streaming, method.server_streaming)
                route = Route(
                    name,
                    backend,
                    *streaming,
                    _route_key(backend, method),
                    idempotent=_idempotent(name),
                )
                if name in _STALE_READS:
                    route = dataclasses.replace(route, any_replica=_stale(_STALE_READS[name]))
                routes[name] = route
    return routes


SERVICE_NAMES = tuple(
    service.full_name
    for file in (kv_pb2, lock_pb2, log_pb2)
    for service in file.DESCRIPTOR.services_by_name.values()
)
