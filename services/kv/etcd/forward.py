"""A follower's requests, carried to the leader inside the cluster, as etcd members forward
proposals: an etcd client may write through any member. The call goes over this node's
own link to the leader (its Toxiproxy peer proxy), so a partition between the two cuts it
as it would cut Raft; and it is forwarded once: a node that is no longer the leader when
it arrives answers "leader changed" rather than passing it on again."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from services.kv.etcd import errors
from services.runtime import tls
from services.runtime.errors import ForeignError
from services.runtime.grpc_options import CHANNEL_OPTIONS

FORWARDED_KEY = "faultlab-forwarded-by"
DEFAULT_TIMEOUT_S = 5.0  # etcd's own request timeout is of this order (5 s + election)


class Forwarder:
    def __init__(self, node_id: str, peers: dict[str, str]) -> None:
        self._node_id = node_id
        self._peers = peers  # node id -> this node's link to it
        self._channels: dict[str, grpc.aio.Channel] = {}

    @staticmethod
    def was_forwarded(context: grpc.aio.ServicerContext) -> bool:
        return any(key == FORWARDED_KEY for key, _ in context.invocation_metadata() or ())

    async def call(
        self,
        leader: str,
        method: str,
        request: Message,
        response_type: type[Message],
        context: grpc.aio.ServicerContext,
        streaming: bool = False,
    ) -> Any:
        """`method` (its full path) on `leader`; the leader's answer, or its error as it
        gave it (already in etcd's words). `streaming`: a bidi method (a lease's
        keep-alive), carried as a stream of one request and its one answer."""
        if leader not in self._peers:
            raise errors.NO_LEADER
        channel = self._channels.get(leader)
        if channel is None:
            channel = tls.aio_channel(self._peers[leader], options=CHANNEL_OPTIONS)
            self._channels[leader] = channel
        remaining = context.time_remaining()
        timeout = DEFAULT_TIMEOUT_S if remaining is None else max(remaining, 0.0)
        metadata = ((FORWARDED_KEY, self._node_id),)
        serialize, parse = (lambda m: m.SerializeToString()), response_type.FromString
        try:
            if not streaming:
                unary = channel.unary_unary(method, serialize, parse)
                return await unary(request, timeout=timeout, metadata=metadata)
            bidi = channel.stream_stream(method, serialize, parse)
            call = bidi(iter([request]), timeout=min(timeout, DEFAULT_TIMEOUT_S), metadata=metadata)
            async for answer in call:
                call.cancel()
                return answer
            raise errors.TIMEOUT  # the leader closed the stream without an answer
        except grpc.aio.AioRpcError as e:
            raise as_etcd(e) from None

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


def as_etcd(e: grpc.aio.AioRpcError) -> ForeignError:
    """The leader's etcd error as it was; a link that failed on the way, as etcd words a
    request whose outcome it cannot know."""
    text = e.details() or ""
    if text.startswith("etcdserver: "):
        for known in errors.ALL:
            if known.message == text:
                return known
        return ForeignError(errors.reason_of_code(e.code()), e.code(), text)
    return errors.TIMEOUT
