"""`Client`: what every faultlab SDK client shares. Where it dials (the nodes of its
topology group, or the gateways with an API key), its timeout and retry budget, the
leader cache, one channel per address shared by all its Raft groups' callers, and
closing them.

    async with KvClient.for_topology(topology) as kv: ...
    async with LogClient.for_gateway(topology, api_key="demo-key") as log: ...

Through the gateway every call goes to a gateway, which finds each Raft group's leader
itself: a client's callers then treat the gateways as the nodes of every group.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import grpc

from cluster.client.call import GroupCaller
from cluster.client.gateway import bearer, gateway_addresses
from services.runtime.leader_following import LeaderCache
from services.runtime.topology import Topology

C = TypeVar("C", bound="Client")


class Client:
    TOPOLOGY_GROUP: ClassVar[str]  # the nodes it dials by default: "kv", "lock", "log"
    DEFAULT_TIMEOUT_S: ClassVar[float] = 2.0

    def __init__(
        self,
        addresses: dict[str, str],
        *,
        timeout_s: float | None = None,
        attempts: int | None = 10,
        budget_s: float | None = None,
        rng: random.Random | None = None,
        leaders: LeaderCache | None = None,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
        via_gateway: bool = False,
    ) -> None:
        """`addresses`: node id -> the address clients dial it at (gateways when
        `via_gateway`). `interceptors`: on every channel (the gateway's credentials).
        `attempts` and `budget_s`: each call's retry limits (`GroupCaller`)."""
        assert addresses, "a client needs at least one address"
        self.addresses = dict(addresses)
        self.timeout_s = self.DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        self.via_gateway = via_gateway
        self._attempts = attempts
        self._budget_s = budget_s
        self._rng = rng or random.Random()
        self._leaders = leaders or LeaderCache()
        self._interceptors = list(interceptors)
        self._channels: dict[str, grpc.aio.Channel] = {}

    @classmethod
    def for_topology(cls: type[C], topology: Topology, group: str = "", **kw: Any) -> C:
        nodes = topology.group_nodes(group or cls.TOPOLOGY_GROUP)
        return cls({n.id: topology.client_address(n.id) for n in nodes}, **kw)

    @classmethod
    def for_gateway(
        cls: type[C], topology: Topology, api_key: str, priority: str | None = None, **kw: Any
    ) -> C:
        """A client of the gateway group: every call to a gateway, with the API key."""
        return cls(
            gateway_addresses(topology),
            interceptors=bearer(api_key, priority),
            via_gateway=True,
            **kw,
        )

    def caller(self, group: str, nodes: Sequence[str] = ()) -> GroupCaller:
        """The caller of Raft group `group`, hosted by `nodes` (default: every address;
        through the gateway, always every gateway)."""
        chosen = self.addresses
        if nodes and not self.via_gateway:
            chosen = {n: self.addresses[n] for n in nodes}
        return GroupCaller(
            group,
            chosen,
            attempts=self._attempts,
            budget_s=self._budget_s,
            rng=self._rng,
            leaders=self._leaders,
            channels=self._channels,
            interceptors=self._interceptors,
        )

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
