"""The partitions this node hosts, kept equal to what the metadata log says.

A topic is created by one command in the metadata group (`log/meta`). Every log node
applies it and, for each partition it is a replica of, starts that partition's Raft
group: the same reconciliation after a restart (the metadata log replays, the groups
recover from their own files). A deleted topic's groups stop and their files go.

Two leader duties run here too, because they belong to no single request:
- preferred leaders (Kafka's auto leader rebalance): a partition led by another replica
  than its first hands leadership back once that one is caught up, so leaders stay
  spread over the nodes after a failover;
- retention: the leader proposes a `trim` when the topic's limits are exceeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from services.log.commands import PARTITION_COMMANDS, Trim
from services.log.meta import MetaState
from services.log.partition import PartitionState
from services.log.tail import ProducedTail
from services.log.topic import TopicMeta
from services.replicated import Replicas, ReplicatedGroup, UnknownGroup
from services.runtime import errors, logs

log = logging.getLogger("faultlab.log")

HOUSEKEEPING_S = 1.0  # how often preferred leaders and retention are looked at
TRANSFER_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Hosted:
    topic: TopicMeta
    partition: int

    @property
    def preferred(self) -> str:
        return self.topic.replicas[self.partition][0]


class PartitionHost:
    def __init__(self, replicas: Replicas, meta: MetaState) -> None:
        self._replicas = replicas
        self._meta = meta
        self.hosted: dict[str, Hosted] = {}  # group id -> what it is
        self._tails: dict[str, ProducedTail] = {}  # group id -> where its next batch starts
        self._changed = asyncio.Event()
        self._changed.set()  # reconcile once at start, whatever was restored
        meta.listeners.add(self._changed.set)

    def group(self, group_id: str) -> ReplicatedGroup[PartitionState]:
        """A partition's group hosted here; UnknownGroup if it is not (yet, or any more)."""
        return self._replicas.group(group_id, PartitionState)

    def reserve(self, group: ReplicatedGroup[PartitionState], records: int) -> int:
        """The offset a batch proposed to `group` next will start at (-1: not known yet);
        right before proposing it (tail.py)."""
        return self._tails.setdefault(group.group, ProducedTail()).reserve(group, records)

    # -- keeping the hosted groups equal to the metadata ------------------------------------

    async def reconcile_forever(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            await self._reconcile()

    async def _reconcile(self) -> None:
        me = self._replicas.node_id
        wanted = {
            topic.group(p): Hosted(topic, p)
            for topic in list(self._meta.topics.values())
            for p in range(topic.partitions)
            if me in topic.replicas[p]
        }
        for group_id in [g for g in self.hosted if g not in wanted]:
            del self.hosted[group_id]
            self._tails.pop(group_id, None)
            with contextlib.suppress(UnknownGroup):  # never started here
                await self._replicas.remove_group(group_id, destroy=True)
        for group_id, hosted in wanted.items():
            if group_id in self.hosted:
                continue
            voters = hosted.topic.replicas[hosted.partition]
            await self._replicas.add_group(group_id, voters, PartitionState())
            self.hosted[group_id] = hosted

    # -- leader duties ------------------------------------------------------------------------

    async def housekeeping_forever(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            for group_id, hosted in list(self.hosted.items()):
                try:
                    await self._keep(group_id, hosted)
                except (UnknownGroup, errors.ServiceError) as e:
                    # Lost leadership or the group mid-way: the next round looks again.
                    logs.event(log, "log_housekeeping_skipped", group=group_id, error=str(e))

    async def _keep(self, group_id: str, hosted: Hosted) -> None:
        group = self.group(group_id)
        if not group.is_leader():
            return
        if hosted.preferred != group.node_id and group.is_caught_up(hosted.preferred):
            new = await group.transfer_leadership(TRANSFER_TIMEOUT_S, to=hosted.preferred)
            logs.event(log, "log_preferred_leader", group=group_id, to=new or "")
            return
        await self._retain(group, hosted.topic)

    async def _retain(self, group: ReplicatedGroup[PartitionState], topic: TopicMeta) -> None:
        if not any(topic.retention):
            return
        state = group.state
        now_ms = int(time.time() * 1000)
        start = state.retention_point(*topic.retention, now_ms)
        if start > state.log_start:
            trim = PARTITION_COMMANDS.encode(Trim(start))
            await group.propose_within(trim, TRANSFER_TIMEOUT_S)
