"""`replicated_main`: a replicated service is a state machine, servicers and Raft groups.

A service's `__main__` states those three things; the chassis does the rest: Raft
storage (WAL + snapshots, fsync policy from the environment), one transport and one
ticker for every group of the process, the runtime's admin / health / reflection /
metrics / signals, per-group status in the admin service, and on SIGTERM a hand-over:
every group this node leads transfers leadership to a caught-up follower and waits for
its in-flight writes to learn their outcome, so a rolling restart waits for no election.

    SERVICE = ReplicatedService(
        name="kv",
        state_machine=lambda group: KvState(),
        initial_groups=lambda cfg: ["kv"],
        servicers=[Servicer(kv_pb2.DESCRIPTOR.services_by_name["KV"],
                            kv_pb2_grpc.add_KVServicer_to_server,
                            lambda replicas: KvServicer(replicas.group("kv", KvState)))],
    )
    sys.exit(replicated_main(SERVICE))
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from faultlab.raft.v1 import raft_pb2, raft_pb2_grpc
from google.protobuf.descriptor import ServiceDescriptor

from services.raft.host import RaftHost, disk_storage
from services.raft.statemachine import StateMachine
from services.raft.transport import GrpcTransport, TcpTransport, Transport
from services.replicated import options
from services.replicated.group import ReplicatedGroup
from services.runtime.config import ConfigError, NodeConfig
from services.runtime.server import NodeContext, ServiceHandle, main

# How long a stopping leader waits for a follower to take over, and then for its
# in-flight writes to learn their outcome. Leadership moves in one round trip plus one
# vote; past this the node stops anyway and the others elect a leader as after a crash.
HAND_OVER_S = 1.0
EXIT_LOOP_FAILED = 70  # EX_SOFTWARE: a background loop raised

S = TypeVar("S", bound=StateMachine)


class Replicas:
    """What servicer factories get: this process's Raft groups, as handlers see them, and
    a place to start the service's own background loops (a lock leader's expiry loop)."""

    def __init__(self, host: RaftHost, config: NodeConfig) -> None:
        self._host = host
        self.config = config
        self._loops: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def run_in_background(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run `loop()` from when the node starts until it stops (cancelled first)."""
        self._loops.append((name, loop))

    def start_loops(self) -> None:
        for name, loop in self._loops:
            self._tasks.append(asyncio.create_task(_forever(loop), name=name))

    async def stop_loops(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    @property
    def node_id(self) -> str:
        return self.config.node_id

    def group(self, group: str, kind: type[S]) -> ReplicatedGroup[S]:
        """A group this process hosts, its state machine of type `kind`; UnknownGroup if
        none by that id."""
        node = self._host.group(group)
        state = node.state_machine
        if not isinstance(state, kind):
            raise TypeError(f"group {group} holds a {type(state).__name__}, not a {kind.__name__}")
        return ReplicatedGroup(node, state, self.config.topology.client_address)

    async def add_group(self, group: str, voters: tuple[str, ...], state: S) -> ReplicatedGroup[S]:
        """Start hosting `group` (a log partition the metadata assigns here)."""
        node = await self._host.add_group(group, voters, state)
        return ReplicatedGroup(node, state, self.config.topology.client_address)

    async def remove_group(self, group: str, destroy: bool = False) -> None:
        """Stop hosting `group`; with `destroy` its files go too. UnknownGroup if not hosted."""
        await self._host.remove_group(group, destroy)

    def voters(self) -> tuple[str, ...]:
        """Every node of this node's topology group: the default membership of a group."""
        return tuple(n.id for n in self.config.topology.group_nodes(self.config.group))


@dataclass(frozen=True)
class Servicer:
    descriptor: ServiceDescriptor  # e.g. kv_pb2.DESCRIPTOR.services_by_name["KV"]
    add_to_server: Callable[[Any, grpc.aio.Server], None]  # the generated add_..._to_server
    make: Callable[[Replicas], object]


@dataclass(frozen=True)
class ReplicatedService:
    name: str
    state_machine: Callable[[str], StateMachine]  # a fresh state machine for a group id
    initial_groups: Callable[[NodeConfig], Sequence[str]]  # groups hosted from the start
    servicers: Sequence[Servicer]
    # Idle groups go quiet unless FAULTLAB_QUIESCE=0 says otherwise: the log broker's
    # partitions, where one node hosts hundreds of groups and most are idle.
    quiesce_by_default: bool = False


async def _setup(service: ReplicatedService, ctx: NodeContext) -> ServiceHandle:
    cfg = ctx.config
    opts = options.from_env(quiesce_by_default=service.quiesce_by_default)
    transport = await _peer_transport(cfg, ctx.server)
    host = RaftHost(cfg.node_id, transport, disk_storage(cfg.data_dir, opts.fsync), opts.raft)
    replicas = Replicas(host, cfg)
    for group in service.initial_groups(cfg):
        await host.add_group(group, replicas.voters(), service.state_machine(group))
    for s in service.servicers:
        s.add_to_server(s.make(replicas), ctx.server)
    ctx.admin.set_groups_source(host.status)
    host.start()
    replicas.start_loops()

    async def hand_over() -> None:
        await replicas.stop_loops()
        await host.hand_over(HAND_OVER_S)

    async def close() -> None:
        await replicas.stop_loops()  # already stopped after a hand-over
        await host.stop()

    return ServiceHandle(
        service_names=[s.descriptor.full_name for s in service.servicers],
        peer_service_names=(
            [raft_pb2.DESCRIPTOR.services_by_name["Raft"].full_name]
            if isinstance(transport, GrpcTransport)
            else []
        ),
        hand_over=hand_over if opts.hand_over else None,
        close=close,
    )


async def _peer_transport(cfg: NodeConfig, server: grpc.aio.Server) -> Transport:
    """What carries this node's Raft messages (cfg.peer_transport): frames on the node's
    raft port, or the Raft gRPC service on its gRPC port."""
    if cfg.peer_transport == "grpc":
        grpc_transport = GrpcTransport(cfg.peers)
        raft_pb2_grpc.add_RaftServicer_to_server(grpc_transport, server)
        return grpc_transport
    tcp_transport = TcpTransport(cfg.node_id, cfg.raft_peers)
    try:
        await tcp_transport.listen(cfg.raft_listen)
    except OSError as e:
        raise ConfigError(
            f"cannot listen for Raft frames on {cfg.raft_listen}: {e.strerror} "
            "(is the port in use?)"
        ) from e
    return tcp_transport


async def _forever(loop: Callable[[], Awaitable[None]]) -> None:
    """A background loop that raises is a bug, and a node running on without it (a lock
    leader that never expires sessions) is worse than a crash: log it and exit."""
    try:
        await loop()
    except asyncio.CancelledError:
        raise
    except BaseException:
        logging.getLogger("faultlab.node").exception("background loop failed; stopping")
        os._exit(EXIT_LOOP_FAILED)


def replicated_main(service: ReplicatedService) -> int:
    """Run one node of `service` until SIGTERM; returns the process exit code."""
    setup = functools.partial(_setup, service)
    return main(setup, prog=f"python -m services.{service.name}")
