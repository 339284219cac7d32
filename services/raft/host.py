"""`RaftHost`: every Raft group one process runs, over one transport and one ticker.

A Raft group id (`kv`, `lock`, `log/orders/3`) names one replicated state machine; it is
distinct from the topology group (`kv`, `log`), the set of processes that host such
groups. A log node may host dozens of partitions, each its own group with its own
leader, all sharing this process's transport streams and its tick.

    host = RaftHost("kv1", transport, storage_for, options)
    host.start()
    node = await host.add_group("kv", ("kv1", "kv2", "kv3"), KvState())
    await host.remove_group("kv")
    await host.stop()

Groups may be added and removed while the host runs (the log broker creates topics);
messages for a group this process does not host are dropped, like lost messages.

With quiescence (`NodeOptions.quiesce`), idle groups stop ticking and heartbeating, and
the host keeps the one signal they still need, whether each peer process lives: it pings
every peer once a heartbeat interval under the reserved group id "" (one message per node
pair, however many groups), counts any message from a peer as a sign of life, and tells
every group when a peer falls silent for an election timeout or is heard again
(liveness.py). Its tick then costs a skipped attribute check per quiet group.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from services.raft.liveness import PeerLiveness, ping
from services.raft.messages import Message, NodeId
from services.raft.node import NodeOptions, RaftNode
from services.raft.statemachine import StateMachine
from services.raft.storage import FsyncPolicy, RaftStorage, Storage
from services.raft.storage.group_commit import GroupCommit
from services.raft.transport import Transport
from services.runtime import logs
from services.runtime.admin import GroupInfo

log = logging.getLogger(__name__)

StorageFor = Callable[[str], Storage]
DEFAULT_OPTIONS = NodeOptions()
LIVENESS_GROUP = ""  # no Raft group has an empty id


def disk_storage(data_dir: Path, fsync: FsyncPolicy) -> StorageFor:
    """One folder per group under `data_dir/raft`, its id escaped ("log/a/3" -> "log%2Fa%2F3")."""

    def storage_for(group: str) -> Storage:
        return RaftStorage(data_dir / "raft" / urllib.parse.quote(group, safe=""), fsync)

    return storage_for


class UnknownGroup(KeyError):
    """This process hosts no Raft group by that id."""


class RaftHost:
    def __init__(
        self,
        node_id: NodeId,
        transport: Transport,
        storage_for: StorageFor,
        options: NodeOptions = DEFAULT_OPTIONS,
    ) -> None:
        self.node_id = node_id
        self.transport = transport
        self.options = options
        self._storage_for = storage_for
        self._group_commit = GroupCommit()  # every group's fsyncs, batched (group_commit.py)
        self._nodes: dict[str, RaftNode] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._liveness: PeerLiveness | None = None
        if options.quiesce:
            self._liveness = PeerLiveness((), options.election_ticks)
            transport.register(LIVENESS_GROUP, self._heard)

    # -- groups ---------------------------------------------------------------------------

    async def add_group(
        self, group: str, voters: tuple[NodeId, ...], state_machine: StateMachine
    ) -> RaftNode:
        if group in self._nodes:
            raise ValueError(f"Raft group {group!r} is already hosted on {self.node_id}")
        transport = self.transport
        if self._liveness is not None:
            for peer in voters:
                if peer != self.node_id:
                    self._liveness.add(peer)
        node = RaftNode(
            self.node_id,
            group,
            voters,
            self._storage_for(group),
            state_machine,
            lambda msg: transport.send(group, msg),
            self.options,
            self._group_commit,
        )
        await node.start()
        self._nodes[group] = node
        transport.register(group, self._counting_as_heard(node) if self._liveness else node.deliver)
        logs.event(log, "raft_group_added", group=group, voters=list(voters))
        return node

    async def remove_group(self, group: str, destroy: bool = False) -> None:
        """Stop hosting `group`; with `destroy`, delete its log and snapshots too (a
        deleted topic's partition), else they stay for a later `add_group`."""
        node = self._nodes.pop(group, None)
        if node is None:
            raise UnknownGroup(group)
        self.transport.unregister(group)
        await node.stop()
        if destroy:
            await asyncio.to_thread(node.destroy_storage)
        logs.event(log, "raft_group_removed", group=group, destroyed=destroy)

    def group(self, group: str) -> RaftNode:
        try:
            return self._nodes[group]
        except KeyError:
            raise UnknownGroup(group) from None

    def _counting_as_heard(self, node: RaftNode) -> Callable[[Message], None]:
        def deliver(msg: Message) -> None:
            self._heard(msg)
            node.deliver(msg)

        return deliver

    def _heard(self, msg: Message) -> None:
        """A message from `msg.src` (a Raft message or a ping): its process lives."""
        assert self._liveness is not None
        if self._liveness.heard(msg.src):
            logs.event(log, "raft_peer_up", peer=msg.src)
            for node in self._nodes.values():
                node.peer_changed(msg.src, up=True)

    def _tick_liveness(self, liveness: PeerLiveness, ticks: int) -> None:
        if ticks % self.options.heartbeat_ticks == 0:
            for peer in liveness.peers:
                self.transport.send(LIVENESS_GROUP, ping(self.node_id, peer))
        for peer in liveness.tick():
            logs.event(log, "raft_peer_down", logging.WARNING, peer=peer)
            for node in self._nodes.values():
                node.peer_changed(peer, up=False)

    def quiet_groups(self) -> int:
        return sum(1 for n in self._nodes.values() if n.quiesced)

    def status(self) -> list[GroupInfo]:
        return [n.status() for n in self._nodes.values()]

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.transport.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="raft-ticker")

    async def hand_over(self, timeout_s: float) -> dict[str, NodeId | None]:
        """Before stopping: every group this node leads hands leadership to a caught-up
        follower, so a rolling restart waits for no election timeout; then in-flight
        proposals learn their outcome from the new leader. Returns group -> new leader."""
        led = [n for n in self._nodes.values() if n.is_leader()]
        new_leaders = await asyncio.gather(*(n.transfer_leadership(timeout_s) for n in led))
        for node, new in zip(led, new_leaders, strict=True):
            logs.event(log, "raft_handed_over", group=node.group, to=new or "")
        nodes = list(self._nodes.values())
        undrained = await asyncio.gather(*(n.drain(timeout_s) for n in nodes))
        for node, count in zip(nodes, undrained, strict=True):
            if count:  # these answer OUTCOME_UNKNOWN when the node stops
                logs.event(
                    log,
                    "raft_proposals_undrained",
                    logging.WARNING,
                    group=node.group,
                    proposals=count,
                )
        return {n.group: new for n, new in zip(led, new_leaders, strict=True)}

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self.transport.stop()
        await asyncio.gather(*(n.stop() for n in self._nodes.values()))
        self._nodes.clear()

    async def _tick_forever(self) -> None:
        """One ticker for every group: one timer wake-up per tick, however many groups,
        and no wake-up of a quiet group's driver."""
        loop = asyncio.get_running_loop()
        tick_s = self.options.tick_ms / 1000
        next_tick = loop.time() + tick_s
        for ticks in itertools.count(1):
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            if self._liveness is not None:
                self._tick_liveness(self._liveness, ticks)
            for node in list(self._nodes.values()):
                if not node.quiesced:
                    node.tick()
            next_tick = max(next_tick + tick_s, loop.time())
