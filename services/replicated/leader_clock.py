"""The leader's clock for things that expire (lock sessions, etcd leases): the leader's
monotonic clock, carried into the Raft log.

Every replica must agree on when a session or lease expired, so expiry is a command, and
the time it is judged by travels inside commands (`now`). Whose time? Only the leader's:
it reads its own monotonic clock, shifted so that it continues from the highest time
already in the log (`Clocked.clock_ms`). Monotonic clocks of different processes have no
common zero, so a new leader cannot read the old one's; it starts where the log stopped
instead. Time therefore stands still between leaders, which only makes sessions live
longer, never shorter than their clients believe.

A leader takes office in two steps before it judges anything: its first command is the
service's `lead`, which extends everything to at least one TTL past the log's clock
(Chubby's grace period; etcd's lessor promotion does the same: the election gave nobody
a chance to keep alive), and once that is applied it fixes its offset. Until then
`now_ms` refuses (NOT_APPLIED: try again).

`run` is the leader's expiry loop: every tick, propose the service's `expire` for what is
due. The state machine checks the deadline again when it applies it, so a keep-alive that
is ordered first wins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from services.replicated.group import ReplicatedGroup
from services.runtime import logs
from services.runtime.errors import NotApplied, ServiceError

log = logging.getLogger("faultlab.clock")

CHECK_S = 0.05  # how often the leader looks for what expired: the expiry's precision
PROPOSE_TIMEOUT_S = 2.0


class Clocked(Protocol):
    """What the clock reads from the state machine."""

    @property
    def clock_ms(self) -> int:
        """The highest time the log has carried."""
        ...

    def due(self, now_ms: int) -> list[int]:
        """The ids whose deadline `now_ms` has reached."""
        ...


class ClockCommands(Protocol):
    """The service's two commands of the clock, encoded for its log."""

    def lead(self) -> bytes: ...

    def expire(self, due: tuple[int, ...], now_ms: int) -> bytes: ...


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class LeaderClock:
    def __init__(
        self,
        group: ReplicatedGroup[Any],
        clocked: Clocked,
        commands: ClockCommands,
        clock_ms: Callable[[], int] = monotonic_ms,
    ) -> None:
        self._group = group
        self._clocked = clocked
        self._commands = commands
        self._clock_ms = clock_ms
        self._term = 0  # the term whose `lead` is applied; 0: none
        self._offset_ms = 0

    def now_ms(self) -> int:
        """The leader's clock, on a leader that has taken office; else an error."""
        group = self._group
        if not group.is_leader():
            raise group.not_leader(group.leader_id)
        if self._term != group.term:
            raise NotApplied("this leader is still taking office (extending every deadline); retry")
        return self._clock_ms() + self._offset_ms

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                await self._step()
            except ServiceError as e:  # lost leadership mid-way, no quorum: next tick
                logs.event(
                    log, "leader_clock_step_failed", reason=type(e).__name__, error=e.message
                )

    async def _step(self) -> None:
        if not self._group.is_leader():
            self._term = 0
            return
        term = self._group.term
        if self._term != term:
            await self._take_office(term)
            return
        now = self.now_ms()
        due = self._clocked.due(now)
        if due:
            expire = self._commands.expire(tuple(due), now)
            await self._group.propose_within(expire, PROPOSE_TIMEOUT_S)
            logs.event(log, "leader_clock_expired", group=self._group.group, due=due, now_ms=now)

    async def _take_office(self, term: int) -> None:
        await self._group.propose_within(self._commands.lead(), PROPOSE_TIMEOUT_S)
        if self._group.term != term:
            return  # deposed while it committed: the next leader takes office itself
        # The log's clock as of `lead`: nothing later in the log is this leader's but its own.
        self._offset_ms = self._clocked.clock_ms - self._clock_ms()
        self._term = term
        logs.event(
            log,
            "leader_in_office",
            group=self._group.group,
            term=term,
            clock_ms=self._clocked.clock_ms,
        )
