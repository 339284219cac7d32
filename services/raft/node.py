"""`RaftNode`: the asyncio driver of one Raft group on one node.

One task owns the core (etcd's node.go shape). Everything else only enqueues and awaits
a future: gRPC handlers call `propose` / `read_index`, the transport calls `deliver`.
The loop wakes on any of those or on the tick timer, feeds the core, and handles each
Ready in the documented order: persist (in a thread, so fsync does not stall the loop) →
send → apply → serve reads → advance.

Group commit falls out of this shape: while one Ready's fsync runs, new proposals queue
up, and the next loop turn proposes them all as one batch, persisted by one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from services.raft import metrics
from services.raft.config import RaftConfig
from services.raft.core import RaftCore, Role
from services.raft.errors import NotLeader, ProposalDropped
from services.raft.messages import EntryKind, Message, NodeId, ReadState
from services.raft.ready import Ready
from services.raft.statemachine import StateMachine
from services.raft.storage import RaftStorage
from services.runtime import logs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeOptions:
    tick_ms: int = 50
    election_ticks: int = 10  # 0.5-1 s election timeouts with the default tick
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    snapshot_every: int = 10_000  # applied entries past the last snapshot before another


@dataclass
class _Proposal:
    term: int
    future: asyncio.Future[object]
    started: float = field(default_factory=time.monotonic)


class RaftNode:
    def __init__(
        self,
        node_id: NodeId,
        group: str,
        voters: tuple[NodeId, ...],
        storage: RaftStorage,
        state_machine: StateMachine,
        send: Callable[[Message], None],
        options: NodeOptions = NodeOptions(),
    ) -> None:
        self.id = node_id
        self.group = group
        self._config = RaftConfig(
            node_id=node_id, voters=voters, election_ticks=options.election_ticks,
            heartbeat_ticks=options.heartbeat_ticks, pre_vote=options.pre_vote,
            check_quorum=options.check_quorum,
        )  # fmt: skip
        self._storage = storage
        self._sm = state_machine
        self._send = send
        self._options = options
        self.core: RaftCore | None = None
        self._inbox: list[Message] = []
        self._to_propose: list[tuple[bytes, asyncio.Future[object]]] = []
        self._reads_to_start: list[tuple[bytes, asyncio.Future[None]]] = []
        self._proposals: dict[int, _Proposal] = {}
        self._reads: dict[bytes, asyncio.Future[None]] = {}
        self._read_states: list[ReadState] = []
        self._read_ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_role = ""

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        restored = await asyncio.to_thread(self._storage.recover)
        self.core = RaftCore(self._config, random.Random(), restored)
        if restored.snapshot is not None:
            self._sm.restore(restored.snapshot.data)
        logs.event(
            log, "raft_recovered", group=self.group, term=restored.hard_state.term,
            commit=restored.hard_state.commit, entries=len(restored.entries),
            snapshot_index=restored.snapshot.index if restored.snapshot else 0,
        )  # fmt: skip
        self._task = asyncio.create_task(self._run(), name=f"raft-{self.group}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self._storage.close)

    # -- what callers see -------------------------------------------------------------------

    @property
    def role(self) -> str:
        return self.core.role.value if self.core else "starting"

    @property
    def term(self) -> int:
        return self.core.term if self.core else 0

    @property
    def leader(self) -> NodeId:
        return self.core.lead if self.core else ""

    @property
    def applied_index(self) -> int:
        return self.core.log.applied if self.core else 0

    def is_leader(self) -> bool:
        return self.core is not None and self.core.role is Role.LEADER

    def deliver(self, msg: Message) -> None:
        self._inbox.append(msg)
        self._wake.set()

    async def propose(self, command: bytes) -> object:
        """The state machine's result once applied. NotLeader at once on a follower;
        ProposalDropped if the entry was refused or lost to a new leader. Callers bound
        the wait with their deadline: on timeout the command may still be applied."""
        self._check_leader()
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._to_propose.append((command, future))
        self._wake.set()
        return await future

    async def read_index(self) -> None:
        """Returns once a linearizable read may be served from the local state."""
        self._check_leader()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reads_to_start.append((f"{self.id}-{next(self._read_ids)}".encode(), future))
        self._wake.set()
        await future

    def _check_leader(self) -> None:
        if not self.is_leader():
            raise NotLeader(self.id, self.leader)

    # -- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        core = self.core
        assert core is not None
        loop = asyncio.get_running_loop()
        tick_s = self._options.tick_ms / 1000
        next_tick = loop.time() + tick_s
        while True:
            with contextlib.suppress(TimeoutError):  # the tick is due: nothing else woke us
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_tick - loop.time()))
            self._wake.clear()
            inbox, self._inbox = self._inbox, []
            for msg in inbox:
                core.step(msg)
            if loop.time() >= next_tick:
                core.tick()
                next_tick = max(next_tick + tick_s, loop.time())
            self._start_proposals(core)
            self._start_reads(core)
            while core.has_ready():
                await self._handle_ready(core, core.ready())

    def _start_proposals(self, core: RaftCore) -> None:
        batch, self._to_propose = self._to_propose, []
        if not batch:
            return
        try:
            indexes = core.propose_batch([cmd for cmd, _ in batch])
        except (NotLeader, ProposalDropped) as e:
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        for index, (_, future) in zip(indexes, batch, strict=True):
            self._proposals[index] = _Proposal(core.term, future)

    def _start_reads(self, core: RaftCore) -> None:
        reads, self._reads_to_start = self._reads_to_start, []
        for context, future in reads:
            try:
                core.read_index(context)
            except NotLeader as e:
                future.set_exception(e)
                continue
            self._reads[context] = future

    async def _handle_ready(self, core: RaftCore, rd: Ready) -> None:
        if rd.entries or rd.hard_state is not None or rd.snapshot is not None:
            started = time.monotonic()
            await asyncio.to_thread(self._storage.persist, rd)  # 1. persist (fsync off-loop)
            metrics.PERSIST_SECONDS.labels(self.group).observe(time.monotonic() - started)
        for msg in rd.messages:  # 2. send
            self._send(msg)
        if rd.snapshot is not None:  # 3. apply
            self._sm.restore(rd.snapshot.data)
            logs.event(log, "raft_snapshot_installed", group=self.group, index=rd.snapshot.index)
        for entry in rd.committed_entries:
            command = entry.data if entry.kind is EntryKind.NORMAL else b""
            result = self._sm.apply(entry.index, command) if command else None
            self._resolve(entry.index, entry.term, result)
        core.advance(rd)  # 5. advance
        self._read_states += rd.read_states  # 4. reads, once applied far enough
        self._serve_reads(core.log.applied)
        self._after_ready(core, rd)
        await self._maybe_snapshot(core)

    def _resolve(self, index: int, term: int, result: object) -> None:
        proposal = self._proposals.pop(index, None)
        if proposal is None or proposal.future.done():
            return
        if proposal.term == term:
            proposal.future.set_result(result)
            metrics.PROPOSAL_SECONDS.labels(self.group).observe(time.monotonic() - proposal.started)
        else:
            proposal.future.set_exception(
                ProposalDropped(f"entry {index} was replaced by a leader of term {term}")
            )

    def _serve_reads(self, applied: int) -> None:
        waiting = []
        for rs in self._read_states:
            if rs.index > applied:
                waiting.append(rs)
                continue
            future = self._reads.pop(rs.context, None)
            if future is not None and not future.done():
                future.set_result(None)
        self._read_states = waiting

    def _after_ready(self, core: RaftCore, rd: Ready) -> None:
        role = rd.soft_state.role
        if role != self._last_role:
            logs.event(log, "raft_role", group=self.group, role=role, term=core.term,
                       leader=rd.soft_state.leader)  # fmt: skip
            if self._last_role == Role.LEADER.value:
                self._fail_reads(NotLeader(self.id, core.lead))
            self._last_role = role
        g = self.group
        metrics.TERM.labels(g).set(core.term)
        metrics.IS_LEADER.labels(g).set(1 if core.role is Role.LEADER else 0)
        metrics.COMMIT_INDEX.labels(g).set(core.log.commit)
        metrics.APPLIED_INDEX.labels(g).set(core.log.applied)

    def _fail_reads(self, error: Exception) -> None:
        """A deposed leader's pending reads can never be confirmed: fail them now."""
        for future in self._reads.values():
            if not future.done():
                future.set_exception(error)
        self._reads.clear()
        self._read_states.clear()

    async def _maybe_snapshot(self, core: RaftCore) -> None:
        if core.log.applied - core.log.snap_index < self._options.snapshot_every:
            return
        snapshot = core.compact(core.log.applied, self._sm.snapshot())
        await asyncio.to_thread(self._storage.compact, snapshot)
        logs.event(log, "raft_snapshot", group=self.group, index=snapshot.index,
                   bytes=len(snapshot.data))  # fmt: skip
