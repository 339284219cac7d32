"""`RaftNode`: the asyncio driver of one Raft group on one node.

One task owns the core (etcd's node.go shape). Everything else only enqueues and awaits
a future: gRPC handlers call `propose` / `read_index`, the transport calls `deliver`, the
host's one ticker calls `tick`. The loop wakes on any of those, feeds the core, and
handles each Ready in the documented order: a leader's appends go out, then persist (in a
thread when it fsyncs, so the loop does not stall), then `ReadyHandler` (send → apply →
advance → serve reads), the same code the simulator runs. Messages that arrive meanwhile
wait in the inbox until the Ready is done, which is what makes the early appends safe.

Group commit falls out of this shape: while one Ready's fsync runs, new proposals queue
up, and the next loop turn proposes them all as one batch, persisted by one fsync.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.raft import metrics
from services.raft.config import RaftConfig
from services.raft.core import RaftCore
from services.raft.errors import NodeStopped, NotLeader, ProposalDropped
from services.raft.messages import Entry, Message, NodeId, ReadState
from services.raft.ready import Ready
from services.raft.ready_handler import ReadyHandler
from services.raft.role import Role
from services.raft.statemachine import StateMachine
from services.raft.storage import Storage
from services.raft.storage.group_commit import GroupCommit
from services.runtime import logs
from services.runtime.admin import GroupInfo

log = logging.getLogger(__name__)

EXIT_STORAGE_FAILED = 74  # EX_IOERR
EXIT_SOFTWARE = 70  # EX_SOFTWARE: a bug


def stop_process(group: str, error: OSError) -> None:
    """A write or fsync of the Raft log failed: stop the whole node, at once.

    Not retried: after a failed fsync Linux may have dropped the dirty pages and marked
    them clean, so a retry can "succeed" with the data gone (PostgreSQL's fsyncgate,
    2018). The entries this node could not make durable must not be acknowledged or
    voted on; the node restarts from what is on disk, as after a crash."""
    logs.event(log, "raft_storage_failed", group=group, error=str(error), errno=error.errno)
    logging.shutdown()
    os._exit(EXIT_STORAGE_FAILED)


def stop_process_on_bug(group: str, error: Exception) -> None:
    """The driver met an error no code path expects (a broken invariant, a state machine
    that raised): stop the whole node, as etcd panics. A driver that died alone left a
    zombie: its node still reported the group's role, still answered its callers with
    NotLeader or nothing, and a leader's followers waited out an election timeout with
    no line in any log to say why. A stopped process is seen, restarts from its disk
    as after a crash, and Raft is built for that."""
    logs.event(
        log,
        "raft_driver_failed",
        logging.CRITICAL,
        group=group,
        error=f"{type(error).__name__}: {error}",
        traceback="".join(traceback.format_exception(error)),
    )
    logging.shutdown()
    os._exit(EXIT_SOFTWARE)


@dataclass(frozen=True)
class NodeOptions:
    tick_ms: int = 50
    election_ticks: int = 10  # 0.5-1 s election timeouts with the default tick
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    snapshot_every: int = 10_000  # applied entries past the last snapshot before another
    quiesce: bool = False  # idle groups go quiet (core.py); the host then pings its peers
    max_clock_drift: float = 0.0  # how much a lease is cut for clock drift (RaftConfig)


@dataclass
class _Proposal:
    term: int
    future: asyncio.Future[object]  # the state machine's result
    appended: asyncio.Future[int] | None = None  # the index, once persisted here
    started: float = field(default_factory=time.monotonic)

    def fail(self, error: Exception) -> None:
        for future in (self.future, self.appended):
            if future is not None and not future.done():
                future.set_exception(error)


def _confirmation(core: RaftCore, lease: bool) -> str:
    """How the core will confirm a read it is asked for now (a metric's label)."""
    if core.role is not Role.LEADER:
        return "forwarded"
    return "lease" if (lease or core.cfg.lease_reads) and core.holds_lease() else "quorum"


def _unawaited(future: asyncio.Future[object]) -> None:
    """A result nobody waits for: read its exception so asyncio does not log it."""
    if not future.cancelled():
        future.exception()


class RaftNode:
    def __init__(
        self,
        node_id: NodeId,
        group: str,
        voters: tuple[NodeId, ...],
        storage: Storage,
        state_machine: StateMachine,
        send: Callable[[Message], None],
        options: NodeOptions = NodeOptions(),
        group_commit: GroupCommit | None = None,
    ) -> None:
        self.id = node_id
        self.group = group
        self._metrics = metrics.GroupMetrics(group)
        self.state_machine = state_machine
        self._config = RaftConfig(
            node_id=node_id,
            voters=voters,
            election_ticks=options.election_ticks,
            heartbeat_ticks=options.heartbeat_ticks,
            pre_vote=options.pre_vote,
            check_quorum=options.check_quorum,
            quiesce=options.quiesce,
            max_clock_drift=options.max_clock_drift,
        )
        self._storage = storage
        self._group_commit = group_commit or GroupCommit()  # the host shares one
        self._send = send
        self.options = options
        self.core: RaftCore | None = None
        self._handler: ReadyHandler | None = None
        self._inbox: list[Message] = []
        self._peer_changes: list[tuple[NodeId, bool]] = []  # (peer, up) from the host
        self._ticks_due = 0
        self._transfer_to: NodeId | None = None
        self._to_propose: list[_Proposal] = []
        self._commands: list[bytes] = []  # of `_to_propose`, in the same order
        self._reads_to_start: list[tuple[bytes, asyncio.Future[None]]] = []
        self._lease_reads_to_start: list[tuple[bytes, asyncio.Future[None]]] = []
        self._proposals: dict[int, _Proposal] = {}
        self._reads: dict[bytes, list[asyncio.Future[None]]] = {}
        self._read_ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_role = Role.STARTING
        self.on_storage_failure: Callable[[str, OSError], None] = stop_process
        self.on_driver_failure: Callable[[str, Exception], None] = stop_process_on_bug

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        restored = await asyncio.to_thread(self._storage.recover)
        core = RaftCore(self._config, random.Random(), restored)
        self.core = core
        self._handler = ReadyHandler(
            core, self.state_machine, self._send, self._on_applied, self._on_read_ready
        )
        if restored.snapshot is not None:
            self.state_machine.restore(restored.snapshot.data)
        logs.event(
            log,
            "raft_recovered",
            group=self.group,
            term=restored.hard_state.term,
            commit=restored.hard_state.commit,
            entries=len(restored.entries),
            snapshot_index=restored.snapshot.index if restored.snapshot else 0,
        )
        self._task = asyncio.create_task(self._run(), name=f"raft-{self.group}")

    def destroy_storage(self) -> None:
        """After `stop`: delete what this group stored on this node."""
        self._storage.destroy()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._fail_pending()
        await asyncio.to_thread(self._storage.close)
        self._metrics.forget()  # a removed group's series would claim it still leads

    # -- what callers see -------------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self.core.role if self.core else Role.STARTING

    @property
    def term(self) -> int:
        return self.core.term if self.core else 0

    @property
    def leader(self) -> NodeId:
        return self.core.lead if self.core else ""

    def status(self) -> GroupInfo:
        core = self.core
        commit, applied, last = (
            (core.log.commit, core.log.applied, core.log.last_index) if core else (0, 0, 0)
        )
        voters = tuple(sorted(core.voters)) if core else self._config.voters
        return GroupInfo(
            self.group,
            self.role,
            self.term,
            self.leader,
            commit,
            applied,
            voters,
            last,
            quiet=self.quiesced,
        )

    def is_leader(self) -> bool:
        return self.core is not None and self.core.role is Role.LEADER

    def settled(self) -> bool:
        """Nothing this node was asked to propose waits to be appended or applied: its
        state machine holds its whole log."""
        core = self.core
        return core is not None and not self._commands and core.log.applied == core.log.last_index

    def caught_up(self, peer: NodeId) -> bool:
        """On a leader: `peer` holds every entry this leader has."""
        core = self.core
        if core is None or core.role is not Role.LEADER or peer not in core.prs:
            return False
        return core.prs[peer].match >= core.log.last_index

    @property
    def quiesced(self) -> bool:
        """The group is quiet here: ticks would do nothing, so the host skips them."""
        return self.core is not None and self.core.quiesced

    def peer_changed(self, peer: NodeId, up: bool) -> None:
        """The host's node-level liveness says `peer`'s process went down or came back."""
        self._peer_changes.append((peer, up))
        self._wake.set()

    def tick(self) -> None:
        """One tick of logical time has passed (called by the host's ticker)."""
        self._ticks_due += 1
        self._wake.set()

    def deliver(self, msg: Message) -> None:
        self._inbox.append(msg)
        self._wake.set()

    async def propose(self, command: bytes) -> object:
        """The state machine's result once applied. NotLeader at once on a follower (or a
        leader handing over); ProposalDropped if the entry was refused or lost to a new
        leader; NodeStopped if the node stopped first (the outcome is then unknown).
        Callers bound the wait with their deadline: on timeout it may still be applied."""
        self._check_leader()
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._enqueue(command, _Proposal(0, future))
        return await future

    async def propose_appended(self, command: bytes) -> int:
        """The entry's index once this leader has persisted it in its own log, before any
        follower need have it (Kafka's acks=1, the unsafe mode): a leader that dies now
        may take the entry with it. Fails as `propose` does until then."""
        self._check_leader()
        loop = asyncio.get_running_loop()
        applied: asyncio.Future[object] = loop.create_future()
        applied.add_done_callback(_unawaited)
        appended: asyncio.Future[int] = loop.create_future()
        self._enqueue(command, _Proposal(0, applied, appended))
        return await appended

    def _enqueue(self, command: bytes, proposal: _Proposal) -> None:
        self._commands.append(command)
        self._to_propose.append(proposal)
        self._wake.set()

    async def read_index(self, on_follower: bool = False, lease: bool = False) -> None:
        """Returns once a linearizable read may be served from the local state. A
        follower refuses (NotLeader), unless `on_follower`: then it asks its leader
        and waits until it has applied what the leader had committed; with no leader
        known it refuses, and if the leader is lost meanwhile it waits on until the
        caller's deadline. With `lease`, a leader that holds its lease (core.py,
        "leases") confirms nothing with its peers; one whose lease lapsed does."""
        if not on_follower:
            self._check_leader()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._lease_reads_to_start if lease else self._reads_to_start
        queue.append((f"{self.id}-{next(self._read_ids)}".encode(), future))
        self._wake.set()
        await future

    def holds_lease(self) -> bool:
        return self.core is not None and self.core.holds_lease()

    async def transfer_leadership(
        self, timeout_s: float, to: NodeId | None = None
    ) -> NodeId | None:
        """Hand leadership to `to` (default: the most caught-up follower) and wait until
        it has taken over (thesis §3.10). Returns the new leader, or None if this node
        does not lead or no follower took over within `timeout_s`."""
        core = self.core
        if core is None or core.role is not Role.LEADER:
            return None
        followers = {p: pr.match for p, pr in core.prs.items() if p != self.id}
        if not followers or (to is not None and to not in followers):
            return None
        self._transfer_to = to or max(followers, key=lambda p: followers[p])
        self._wake.set()
        deadline = time.monotonic() + timeout_s
        # Done when another node leads and this one has heard from it (a follower learns
        # the new leader's id from its first append, a moment after stepping down).
        while (self.is_leader() or not self.leader) and time.monotonic() < deadline:
            await asyncio.sleep(self.options.tick_ms / 1000)
        return None if self.is_leader() else self.leader or None

    async def drain(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for in-flight proposals to learn their outcome (as a
        follower learns the commit index from the new leader); returns how many did not."""
        pending = [p.future for p in self._proposals.values()]
        pending += [p.future for p in self._to_propose]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        return sum(1 for f in pending if not f.done())

    def _check_leader(self) -> None:
        core = self.core
        if core is None or core.role is not Role.LEADER:
            raise NotLeader(self.id, self.leader)
        if core.lead_transferee:  # handing over: send the caller to the next leader
            raise NotLeader(self.id, core.lead_transferee)

    # -- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._loop()
        except OSError as e:  # the storage failed (I/O is the only OSError the loop meets)
            self.on_storage_failure(self.group, e)
            raise
        except Exception as e:
            self.on_driver_failure(self.group, e)
            raise

    async def _loop(self) -> None:
        core, handler = self.core, self._handler
        assert core is not None and handler is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            changes, self._peer_changes = self._peer_changes, []
            for peer, up in changes:
                core.on_peer_up(peer) if up else core.on_peer_down(peer)
            inbox, self._inbox = self._inbox, []
            for msg in inbox:
                core.step(msg)
            ticks, self._ticks_due = self._ticks_due, 0
            for _ in range(ticks):
                core.tick()
            self._start_transfer(core)
            self._start_proposals(core)
            self._start_reads(core)
            while core.has_ready():
                await self._handle_ready(core, handler, core.ready())

    def _start_transfer(self, core: RaftCore) -> None:
        target, self._transfer_to = self._transfer_to, None
        if target is None:
            return
        try:
            core.transfer_leadership(target)
        except (NotLeader, ProposalDropped) as e:
            logs.event(log, "raft_transfer_refused", group=self.group, to=target, error=str(e))
            return
        logs.event(log, "raft_transfer_started", group=self.group, to=target)

    def _start_proposals(self, core: RaftCore) -> None:
        batch, self._to_propose = self._to_propose, []
        commands, self._commands = self._commands, []
        if not batch:
            return
        try:
            indexes = core.propose_batch(commands)
        except (NotLeader, ProposalDropped) as e:
            for proposal in batch:
                proposal.fail(e)
            return
        for index, proposal in zip(indexes, batch, strict=True):
            proposal.term = core.term
            self._proposals[index] = proposal

    def _start_reads(self, core: RaftCore) -> None:
        """One ReadIndex round for every read queued since the last: each of them arrived
        before the round starts, so the index it confirms serves them all, as etcd's
        linearizable read loop coalesces its reads. One round costs a heartbeat to every
        peer and its answer; at 64 reads in flight that was most of a read's cost. Reads
        that may be served by the leader's lease go as one more such batch."""
        reads, self._reads_to_start = self._reads_to_start, []
        leased, self._lease_reads_to_start = self._lease_reads_to_start, []
        for batch, lease in ((reads, False), (leased, True)):
            if not batch:
                continue
            context = batch[0][0]
            futures = [future for _, future in batch]
            confirmed_by = _confirmation(core, lease)
            try:
                core.read_index(context, lease)
            except NotLeader as e:
                for future in futures:
                    future.set_exception(e)
                continue
            metrics.READ_ROUNDS.labels(self.group, confirmed_by).inc()
            self._reads[context] = futures

    async def _handle_ready(self, core: RaftCore, handler: ReadyHandler, rd: Ready) -> None:
        handler.before_persist(rd)  # a leader's appends: followers fsync while we do
        if rd.entries or rd.hard_state is not None or rd.snapshot is not None:
            started = time.monotonic()
            if self._storage.blocks(rd):
                await self._group_commit.persist(self._storage, rd)  # 1. persist, off-loop
            else:  # a commit index alone: a buffered write, cheaper than the thread hop
                self._storage.persist(rd)
            self._metrics.persist_seconds.observe(time.monotonic() - started)
            self._on_persisted(rd.entries)
        if rd.snapshot is not None:
            logs.event(log, "raft_snapshot_installed", group=self.group, index=rd.snapshot.index)
        handler.after_persist(rd)  # 2-5. send, apply, advance, serve reads
        self._after_ready(core, handler, rd)
        await self._maybe_snapshot(core)

    def _on_persisted(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            proposal = self._proposals.get(entry.index)
            if proposal is None or proposal.appended is None or proposal.appended.done():
                continue
            if proposal.term == entry.term:  # else a later leader's entry: settled on apply
                proposal.appended.set_result(entry.index)

    def _on_applied(self, entry: Entry, result: object) -> None:
        proposal = self._proposals.pop(entry.index, None)
        if proposal is None or proposal.future.done():
            return
        if proposal.term == entry.term:
            if proposal.appended is not None and not proposal.appended.done():
                proposal.appended.set_result(entry.index)
            proposal.future.set_result(result)
            self._metrics.proposal_seconds.observe(time.monotonic() - proposal.started)
        else:
            proposal.fail(
                ProposalDropped(
                    f"entry {entry.index} was replaced by a leader of term {entry.term}"
                )
            )

    def _on_read_ready(self, rs: ReadState, applied: int) -> None:
        for future in self._reads.pop(rs.context, []):
            if not future.done():  # its caller may have given up meanwhile
                future.set_result(None)

    def _after_ready(self, core: RaftCore, handler: ReadyHandler, rd: Ready) -> None:
        role = rd.soft_state.role
        if role is not self._last_role:
            logs.event(
                log,
                "raft_role",
                group=self.group,
                role=role.label,
                term=core.term,
                leader=rd.soft_state.leader,
            )
            if self._last_role is Role.LEADER:
                self._fail_reads(NotLeader(self.id, core.lead))
                handler.drop_reads()
            self._last_role = role
        m = self._metrics
        m.term.set(core.term)
        m.is_leader.set(1 if core.role is Role.LEADER else 0)
        m.commit_index.set(core.log.commit)
        m.applied_index.set(core.log.applied)

    def _fail_reads(self, error: Exception) -> None:
        """A deposed leader's pending reads can never be confirmed: fail them now."""
        for futures in self._reads.values():
            for future in futures:
                if not future.done():
                    future.set_exception(error)
        self._reads.clear()

    def _fail_pending(self) -> None:
        """Stopping: queued proposals certainly never reached the log; in-flight ones may
        still be committed by the others, so their outcome is unknown."""
        for queued in self._to_propose:
            queued.fail(ProposalDropped("the node stopped before proposing it"))
        self._to_propose.clear()
        self._commands.clear()
        for proposal in self._proposals.values():
            proposal.fail(NodeStopped("the node stopped; it may still apply"))
        self._proposals.clear()
        self._fail_reads(NodeStopped("the node stopped"))

    async def _maybe_snapshot(self, core: RaftCore) -> None:
        if core.log.applied - core.log.snap_index < self.options.snapshot_every:
            return
        snapshot = core.compact(core.log.applied, self.state_machine.snapshot())
        await asyncio.to_thread(self._storage.compact, snapshot)
        logs.event(
            log, "raft_snapshot", group=self.group, index=snapshot.index, bytes=len(snapshot.data)
        )
