"""`GroupConsumer`: a member of a consumer group, as Kafka's consumer is one.

    async with GroupConsumer(log, "billing", ["orders"], session_timeout_s=6) as consumer:
        while True:
            for topic, partition, record in await consumer.poll():
                handle(record)
            await consumer.commit()      # refused (ILLEGAL_GENERATION) if a rebalance
                                         # moved its partitions meanwhile

It joins, heartbeats in the background every third of its session timeout, and follows
the assignment of each new generation: on a partition it gains it starts at the group's
committed offset (or 0), on one it loses it stops. A heartbeat answered UNKNOWN_MEMBER
(the member missed its session timeout) makes it join again as a new member.

The consumer that paused past its session (a GC pause, SIGSTOP) does not know it until
its next heartbeat; a commit in between carries its old generation, and only the
coordinator's generation check keeps it from moving the group's offsets back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import grpc
from faultlab.log.v1 import log_pb2

from cluster.client import errors
from cluster.client.log import LogClient

_UNKNOWN_MEMBER = errors.Reason.Value("UNKNOWN_MEMBER")
Position = tuple[str, int]  # (topic, partition)


class GroupConsumer:
    def __init__(
        self,
        log: LogClient,
        group: str,
        topics: Sequence[str],
        *,
        session_timeout_s: float = 10.0,
        client_id: str = "consumer",
        assignor: int = log_pb2.RANGE,
        background_heartbeats: bool = True,
    ) -> None:
        """`background_heartbeats` False: the caller calls `heartbeat()` itself, as Kafka's
        consumers did from poll() before KIP-62 (and a stuck loop then misses its session)."""
        self.log = log
        self.group = group
        self.topics = list(topics)
        self.session_timeout_s = session_timeout_s
        self.client_id = client_id
        self.assignor = assignor
        self.member_id = ""
        self.generation = 0
        self.positions: dict[Position, int] = {}  # assigned partition -> next offset to read
        self.rebalanced = asyncio.Event()  # set on each new generation this member sees
        self.background_heartbeats = background_heartbeats
        self._heartbeats: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GroupConsumer:
        await self.join()
        if self.background_heartbeats:
            self._heartbeats = asyncio.create_task(self._beat(), name=f"heartbeat-{self.group}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            await asyncio.gather(self._heartbeats, return_exceptions=True)
        with contextlib.suppress(grpc.aio.AioRpcError):  # gone already: it expires anyway
            await self.log.leave_group(self.group, self.member_id)

    async def join(self) -> None:
        resp = await self.log.join_group(
            self.group,
            self.topics,
            member_id=self.member_id,
            client_id=self.client_id,
            session_timeout_ms=round(self.session_timeout_s * 1000),
            assignor=self.assignor,
        )
        self.member_id = resp.member_id
        await self._adopt(resp.generation, resp.assignment)

    async def poll(self, max_wait_ms: int = 200) -> list[tuple[str, int, log_pb2.FetchedRecord]]:
        """Records from every assigned partition, from where this member left off."""
        out = []
        wait_ms = max_wait_ms if len(self.positions) == 1 else 0
        for (topic, partition), offset in list(self.positions.items()):
            got = await self.log.fetch(topic, partition, offset, max_wait_ms=wait_ms)
            if (topic, partition) not in self.positions:
                continue  # revoked while fetching
            for record in got.records:
                out.append((topic, partition, record))
            if got.records:
                self.positions[(topic, partition)] = got.records[-1].offset + 1
        return out

    async def commit(self, offsets: dict[Position, int] | None = None) -> None:
        """Commit `offsets` (default: this member's positions) as of its generation."""
        await self.log.commit_offsets(
            self.group, self.member_id, self.generation, offsets or dict(self.positions)
        )

    async def heartbeat(self) -> None:
        """One heartbeat: follow a new generation's assignment, or join again as a new
        member if this one was expired."""
        try:
            resp = await self.log.heartbeat(self.group, self.member_id, self.generation)
        except grpc.aio.AioRpcError as e:
            if errors.reason_of(e) != _UNKNOWN_MEMBER:
                raise
            # Expired: its partitions went to others, who moved on. Join as a new member
            # and read from the committed offsets, never its old positions.
            self.member_id = ""
            self.positions.clear()
            await self.join()
            return
        if resp.generation != self.generation:
            await self._adopt(resp.generation, resp.assignment)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.session_timeout_s / 3)
            with contextlib.suppress(grpc.aio.AioRpcError):  # unreachable: beat again later
                await self.heartbeat()

    async def _adopt(self, generation: int, assignment: Sequence[log_pb2.TopicPartitions]) -> None:
        """Follow a new generation's assignment. A partition is kept (at this member's
        position) only from one generation to the next; across a gap, another member may
        have owned it in between, so it starts again at the committed offset."""
        assigned = {(tp.topic, p) for tp in assignment for p in tp.partitions}
        if generation != self.generation + 1:
            self.positions.clear()
        gained = assigned - set(self.positions)
        committed = await self.log.fetch_offsets(self.group) if gained else {}
        self.positions = {
            where: self.positions.get(where, committed.get(where, 0)) for where in sorted(assigned)
        }
        self.generation = generation
        self.rebalanced.set()
