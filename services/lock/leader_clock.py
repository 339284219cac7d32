"""The session clock: the leader's monotonic clock, carried into the Raft log.

Every replica must agree on when a session expired, so expiry is a command (`expire`),
and the time it is judged by travels inside commands (`now`). Whose time? Only the
leader's: it reads its own monotonic clock, shifted so that it continues from the
highest time already in the log (`LockState.clock_ms`). Monotonic clocks of different
processes have no common zero, so a new leader cannot read the old one's; it starts where
the log stopped instead. Time therefore stands still between leaders, which only makes
sessions live longer, never shorter than their clients believe.

A leader takes office in two steps before it judges any session: its first command is
`lead`, which extends every session to at least one TTL past the log's clock (Chubby's
grace period: the election did not give anyone a chance to keep alive), and once that
is applied it fixes its offset. Until then `now_ms` refuses (NOT_APPLIED: try again).

`run` is the leader's expiry loop: every tick, propose `expire` for each session whose
deadline has passed. The state machine checks the deadline again when it applies it, so
a keep-alive that is ordered first wins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from services.lock import commands
from services.lock.commands import Expire, Lead
from services.lock.results import Expired, InOffice
from services.lock.state import LockState
from services.replicated import ReplicatedGroup
from services.runtime import logs
from services.runtime.errors import NotApplied, ServiceError

log = logging.getLogger("faultlab.lock")

CHECK_S = 0.05  # how often the leader looks for expired sessions: the expiry's precision
PROPOSE_TIMEOUT_S = 2.0


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class LeaderClock:
    def __init__(
        self,
        group: ReplicatedGroup[LockState],
        clock_ms: Callable[[], int] = monotonic_ms,
    ) -> None:
        self._group = group
        self._state = group.state
        self._clock_ms = clock_ms
        self._term = 0  # the term whose `lead` is applied; 0: none
        self._offset_ms = 0

    def now_ms(self) -> int:
        """The session clock, on a leader that has taken office; else an error."""
        group = self._group
        if not group.is_leader():
            raise group.not_leader(group.leader_id)
        if self._term != group.term:
            raise NotApplied("this leader is still taking office (extending every session); retry")
        return self._clock_ms() + self._offset_ms

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                await self._step()
            except ServiceError as e:  # lost leadership mid-way, no quorum: next tick
                logs.event(log, "lock_clock_step_failed", reason=type(e).__name__, error=e.message)

    async def _step(self) -> None:
        if not self._group.is_leader():
            self._term = 0
            return
        term = self._group.term
        if self._term != term:
            await self._take_office(term)
            return
        now = self.now_ms()
        due = self._state.due(now)
        if due:
            cmd = Expire(tuple(due), now, wall_ms())
            result = await self._group.propose_within(commands.encode(cmd), PROPOSE_TIMEOUT_S)
            assert isinstance(result, Expired), result
            if result.expired:
                logs.event(log, "lock_sessions_expired", sessions=list(result.expired), now_ms=now)

    async def _take_office(self, term: int) -> None:
        result = await self._group.propose_within(commands.encode(Lead()), PROPOSE_TIMEOUT_S)
        assert isinstance(result, InOffice), result
        if self._group.term != term:
            return  # deposed while it committed: the next leader takes office itself
        # The log's clock as of `lead`: nothing later in the log is this leader's but its own.
        self._offset_ms = self._state.clock_ms - self._clock_ms()
        self._term = term
        logs.event(
            log,
            "lock_leader_in_office",
            term=term,
            clock_ms=self._state.clock_ms,
            sessions=len(self._state.sessions),
        )


def wall_ms() -> int:
    return time.time_ns() // 1_000_000
