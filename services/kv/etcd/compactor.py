"""etcd's periodic compactor on the KV leader (services/kv/compaction.py, periodic mode):
every tenth of the retention it notes the store's revision, and proposes a Compact of the
one noted a whole retention ago. Samples are this leader's own: a new leader starts
noting afresh, so it compacts no sooner than one retention after it took over."""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from services.kv import commands
from services.kv.commands import EtcdCompact
from services.kv.state import KvState
from services.replicated import ReplicatedGroup
from services.runtime import logs
from services.runtime.errors import ServiceError

log = logging.getLogger("faultlab.kv.compactor")
PROPOSE_TIMEOUT_S = 5.0


class PeriodicCompactor:
    def __init__(self, group: ReplicatedGroup[KvState], period_s: float) -> None:
        self._group = group
        self._period_s = period_s
        self._noted: collections.deque[tuple[float, int]] = collections.deque()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._period_s / 10)
            if not self._group.is_leader():
                self._noted.clear()
                continue
            now = time.monotonic()
            self._noted.append((now, self._group.state.revision))
            due = None
            while self._noted and self._noted[0][0] <= now - self._period_s:
                due = self._noted.popleft()[1]
            if due is not None and due > self._group.state.store.compacted:
                await self._compact(due)

    async def _compact(self, revision: int) -> None:
        try:
            cmd = commands.encode(EtcdCompact(revision))
            await self._group.propose_within(cmd, PROPOSE_TIMEOUT_S)
            logs.event(log, "kv_compacted", revision=revision)
        except ServiceError as e:  # deposed or no quorum: the next leader notes afresh
            logs.event(log, "kv_compaction_failed", revision=revision, error=e.message)
