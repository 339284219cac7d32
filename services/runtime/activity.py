"""When a client last called this node: what a stopping node's lame-duck phase waits on.

A leader that handed over on SIGTERM is still serving, and answers every client call with
NOT_LEADER naming the new leader: a definite refusal the client follows at once. Once the
gRPC server stops, a client still pointed at this node gets only UNAVAILABLE from its
transport, which cannot say whether the call was applied. So the node keeps answering
until its clients fall quiet (each has been redirected), within a cap for clients that
never leave (a reader pinned to this node).

Only the service's own client-facing methods count: Raft traffic from peers, health
checks and the admin service go on whatever the clients do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

import grpc


class ClientActivity(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self) -> None:
        self._watched: frozenset[str] = frozenset()
        self._counts: dict[str, bool] = {}  # method -> whether it is a watched service's
        self.last_call_s = time.monotonic()
        self.calls = 0

    def watch(self, service_names: Iterable[str]) -> None:
        """Count calls to these services (full names, e.g. faultlab.kv.v1.KV)."""
        self._watched = frozenset(service_names)
        self._counts.clear()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        counted = self._counts.get(method)
        if counted is None:  # "/faultlab.kv.v1.KV/Put" -> "faultlab.kv.v1.KV"
            counted = self._counts[method] = method.split("/")[1] in self._watched
        if counted:
            self.last_call_s = time.monotonic()
            self.calls += 1
        return await continuation(handler_call_details)

    async def until_quiet(self, quiet_s: float, cap_s: float) -> bool:
        """Return once no client has called for `quiet_s` (True), or after `cap_s` (False).

        The window starts now at the earliest: a call that began before the hand-over may
        only just have been answered, and its client's next call is still to come. A node
        no client called in the last `quiet_s` returns at once."""
        start_s = time.monotonic()
        if start_s - self.last_call_s >= quiet_s:
            return True
        deadline_s = start_s + cap_s
        while True:
            now_s = time.monotonic()
            quiet_at_s = max(self.last_call_s, start_s) + quiet_s
            if now_s >= quiet_at_s:
                return True
            if now_s >= deadline_s:
                return False
            await asyncio.sleep(min(quiet_at_s, deadline_s) - now_s)
