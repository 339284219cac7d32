"""The consumer-group coordinator's leader duties: member liveness.

Heartbeats are not written to the Raft log (a write per member per second for nothing
durable); the leader of `log/groups` keeps each member's last heartbeat in memory and
proposes `expire` for members silent past their session timeout. A new leader knows no
heartbeat times, so it gives every member a full session timeout from when it took over,
as a new Kafka coordinator does.
"""

from __future__ import annotations

import asyncio
import logging
import time

from services.log.commands import GROUPS_COMMANDS, ExpireMembers
from services.log.groups import GroupsState
from services.log.results import MembersExpired
from services.replicated import ReplicatedGroup
from services.replicated.refusal import answered
from services.runtime import errors, logs

log = logging.getLogger("faultlab.log")

CHECK_S = 0.1
EXPIRE_TIMEOUT_S = 2.0


class Coordinator:
    def __init__(self, group: ReplicatedGroup[GroupsState]) -> None:
        self.group = group
        self.state = group.state
        self._last_s: dict[tuple[str, str], float] = {}  # (group, member) -> last heard
        self._leading = False

    def heard_from(self, group: str, member_id: str) -> None:
        """A heartbeat (or a join, a commit) from a member: it is alive now."""
        self._last_s[(group, member_id)] = time.monotonic()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            leading = self.group.is_leader()
            if leading and not self._leading:
                self._last_s.clear()  # heartbeats went to the old leader: start afresh
            self._leading = leading
            if leading:
                await self._expire_silent()

    async def _expire_silent(self) -> None:
        now_s = time.monotonic()
        for name, group in list(self.state.groups.items()):
            silent = []
            for member_id, member in list(group.members.items()):
                last_s = self._last_s.setdefault((name, member_id), now_s)
                if now_s - last_s > member.timeout_ms / 1000:
                    silent.append(member_id)
            if not silent:
                continue
            cmd = GROUPS_COMMANDS.encode(ExpireMembers(name, tuple(silent)))
            try:
                result = answered(
                    await self.group.propose_within(cmd, EXPIRE_TIMEOUT_S), MembersExpired
                )
            except errors.ServiceError as e:  # lost leadership: the next leader starts afresh
                logs.event(log, "group_expire_failed", group=name, error=str(e))
                continue
            for member_id in silent:
                self._last_s.pop((name, member_id), None)
            logs.event(log, "group_members_expired", group=name, members=list(result.expired))
