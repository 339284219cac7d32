"""The Raft state machine: pure, single-threaded, deterministic.

No I/O, no clock, no randomness of its own (the RNG for election timeouts is injected).
Time enters as `tick()`, messages as `step(msg)`, commands as `propose(data)` and reads
as `read_index(ctx)`. What must happen next comes out of `ready()` (see ready.py for the
order the driver must follow), and `advance(ready)` says it happened.

Each role is a pair of functions swapped in by `_become_*` (etcd-io/raft's shape):
`_step_follower` / `_step_candidate` / `_step_leader` and `_tick_election` /
`_tick_heartbeat`. Comments cite the Raft paper (§) and Ongaro's thesis where a rule
comes from there.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.raft.config import RaftConfig
from services.raft.errors import Compacted, NotLeader, ProposalDropped
from services.raft.log import RaftLog
from services.raft.messages import (
    NONE,
    QUIESCE_CONTEXT,
    TRANSFER_CONTEXT,
    ConfChange,
    ConfChangeKind,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    NodeId,
    ReadState,
    Snapshot,
    lease_context,
    lease_tick,
)
from services.raft.progress import Progress, ProgressState
from services.raft.ready import Ready, SoftState
from services.raft.role import Role

MT = MessageType


@dataclass(frozen=True)
class Restored:
    """What storage hands the core at start: all of it durable."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: tuple[Entry, ...] = ()


@dataclass
class _PendingRead:
    index: int
    origin: NodeId  # who asked: this leader, or a follower that forwarded the read
    acks: set[NodeId] = field(default_factory=set)
    sent_tick: int = 0  # the leader's tick count when its heartbeats went out (leases)


class RaftCore:
    def __init__(
        self, config: RaftConfig, rng: random.Random, restored: Restored | None = None
    ) -> None:
        restored = restored or Restored()
        self.id = config.node_id
        self.cfg = config
        self._rng = rng
        self.log = RaftLog(restored.snapshot, restored.entries, restored.hard_state.commit)
        self.term = restored.hard_state.term
        self.vote = restored.hard_state.vote
        # Membership comes from the snapshot, then from replaying the log's conf changes.
        self.voters: set[NodeId] = set(restored.snapshot.voters if restored.snapshot else ())
        if restored == Restored() and config.voters:
            self._bootstrap(config.voters)
        self.role = Role.FOLLOWER
        self.lead = NONE
        self.prs: dict[NodeId, Progress] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_ticks
        self.lead_transferee = NONE
        self.pending_conf_index = 0
        self._votes: dict[NodeId, bool] = {}
        self._pending_reads: dict[bytes, _PendingRead] = {}
        self._reads_awaiting_commit: list[tuple[bytes, NodeId]] = []  # (context, who asked)
        self._msgs: list[Message] = []
        self._read_states: list[ReadState] = []
        self._persisted_hard_state = restored.hard_state
        self.quiesced = False
        self._leader_ticks = 0  # ticks counted as this term's leader (leases)
        self._lease_acks: dict[NodeId, int] = {}  # voter -> latest acknowledged round's tick
        self._peers_down: set[NodeId] = set()  # by the host's node-level liveness
        self._step: Callable[[Message], None] = self._step_follower
        self._tick: Callable[[], None] = self._tick_election
        self._become_follower(self.term, NONE)

    # == the API ========================================================================

    def tick(self) -> None:
        """One unit of logical time has passed (a quiet group does not count it)."""
        if not self.quiesced:
            self._tick()

    def step(self, m: Message) -> None:
        """Take in a message from a peer."""
        assert m.dst == self.id, f"{self.id} got a message for {m.dst}"
        if self.quiesced and not (m.type is MT.HEARTBEAT and m.context == QUIESCE_CONTEXT):
            self._wake()
        if m.term > self.term:
            if not self._accept_higher_term(m):
                return
        elif m.term < self.term:
            self._answer_stale(m)
            return
        if m.type in (MT.VOTE, MT.PRE_VOTE):
            self._handle_vote_request(m)
        else:
            self._step(m)

    def propose(self, data: bytes) -> int:
        """Append a command; returns its index. It is committed when it is applied."""
        return self.propose_batch([data])[0]

    def propose_batch(self, commands: list[bytes]) -> list[int]:
        """Append several commands in one append, replicated together."""
        self._check_can_propose()
        self._wake()
        first = self.log.last_index + 1
        self._append([Entry(self.term, first + i, d) for i, d in enumerate(commands)])
        return list(range(first, first + len(commands)))

    def propose_conf_change(self, change: ConfChange) -> int:
        """Add or remove one voter (single-server change, thesis §4.1)."""
        self._check_can_propose()
        if self.pending_conf_index > self.log.applied:
            raise ProposalDropped("a membership change is still being applied")
        if not self._committed_in_term():
            raise ProposalDropped("the leader has not committed an entry in its term yet")
        adding = change.kind is ConfChangeKind.ADD_VOTER
        if adding == (change.node_id in self.voters):
            state = "already" if adding else "not"
            raise ProposalDropped(f"{change.node_id} is {state} a voter")
        index = self.log.last_index + 1
        self._append([Entry(self.term, index, change.encode(), EntryKind.CONF_CHANGE)])
        self.pending_conf_index = index
        return index

    def read_index(self, context: bytes, lease: bool = False) -> None:
        """Ask for a linearizable read. A ReadState with this context comes out of a later
        Ready once a quorum has confirmed the leader still leads (thesis §6.4), or at once
        on a leader that holds its lease when `lease` (or cfg.lease_reads). A follower
        forwards the request to its leader and gets the index back (thesis §6.4.1, etcd's
        MsgReadIndex); if either loses touch, no ReadState ever comes and the caller's
        deadline ends the read. NotLeader when no leader is known."""
        self._wake()
        if self.role is Role.LEADER:
            self._lead_read(context, self.id, lease)
        elif self.role is Role.FOLLOWER and self.lead != NONE:
            self._send(MT.READ_INDEX, self.lead, context=context)
        else:
            raise NotLeader(self.id, self.lead)

    def transfer_leadership(self, to: NodeId) -> None:
        """Hand leadership to `to` once its log is caught up (thesis §3.10)."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.id, self.lead)
        if to == self.id:
            return
        if to not in self.voters:
            raise ProposalDropped(f"{to} is not a voter")
        self._wake()
        self.lead_transferee = to
        self.election_elapsed = 0  # the transfer is abandoned after an election timeout
        if self.prs[to].match == self.log.last_index:
            self._send(MT.TIMEOUT_NOW, to)
        else:
            self._send_append(to)

    def on_peer_down(self, peer: NodeId) -> None:
        """The host's node-level liveness has heard nothing from `peer`'s process for an
        election timeout. A quiet group wakes if `peer` is one of its voters: its leader
        to count its quorum again, its followers to replace a leader that is gone."""
        self._peers_down.add(peer)
        if not self.quiesced or peer not in self.voters:
            return
        self._wake()
        if self.role is Role.FOLLOWER and self.lead == peer:
            # The liveness timeout already was an election timeout of silence from this
            # leader: count it, so this follower campaigns within [0, E) more ticks (the
            # usual [E, 2E) in all) and no longer refuses votes for a leader it heard lately.
            self.election_elapsed = self.cfg.election_ticks

    def on_peer_up(self, peer: NodeId) -> None:
        """`peer`'s process is heard from again: a quiet leader wakes to catch it up."""
        self._peers_down.discard(peer)
        if self.quiesced and self.role is Role.LEADER and peer in self.voters:
            self._wake()

    def compact(self, index: int, data: bytes) -> Snapshot:
        """The application snapshotted its state at `index` (== applied); drop the log
        before it. Returns the snapshot for the driver to persist."""
        assert index == self.log.applied, "snapshot the state machine at the applied index"
        term = self.log.term(index)
        assert term is not None
        snapshot = Snapshot(index, term, tuple(sorted(self.voters)), data)
        self.log.compact(snapshot)
        return snapshot

    def has_ready(self) -> bool:
        log = self.log
        return bool(
            self._msgs
            or self._read_states
            or log.pending_snapshot
            or log.stable_index < log.last_index
            or log.commit > log.applied
            or self._hard_state() != self._persisted_hard_state
        )

    def ready(self) -> Ready:
        """Everything to do now. Call `advance` with it once done; step nothing in between."""
        hs = self._hard_state()
        changed = hs != self._persisted_hard_state
        entries = tuple(self.log.unstable_entries())
        persisted = self._persisted_hard_state
        rd = Ready(
            soft_state=SoftState(self.role, self.lead, self.term),
            hard_state=hs if changed else None,
            entries=entries,
            snapshot=self.log.pending_snapshot,
            messages=tuple(self._msgs),
            committed_entries=tuple(self.log.entries_to_apply()),
            read_states=tuple(self._read_states),
            must_sync=bool(entries)
            or self.log.pending_snapshot is not None
            or (hs.term, hs.vote) != (persisted.term, persisted.vote),
        )
        self._msgs = []
        self._read_states = []
        return rd

    def advance(self, rd: Ready) -> None:
        """The driver did everything `rd` asked."""
        if rd.hard_state is not None:
            self._persisted_hard_state = rd.hard_state
        if rd.entries:
            last = rd.entries[-1]
            self.log.stable_to(last.index, last.term)
        if rd.snapshot is not None:
            if self.log.pending_snapshot == rd.snapshot:
                self.log.pending_snapshot = None
            self.log.applied = max(self.log.applied, rd.snapshot.index)
        for e in rd.committed_entries:
            assert e.index == self.log.applied + 1, "entries applied out of order"
            self.log.applied = e.index
            if e.kind is EntryKind.CONF_CHANGE:
                self._apply_conf_change(ConfChange.decode(e.data))

    def _bootstrap(self, voters: tuple[NodeId, ...]) -> None:
        """A brand-new cluster: its first entries add the initial voters, committed at
        term 1 on every founding node alike (as etcd's Bootstrap does), so the membership
        lives in the log and a node that joins later learns it by replication."""
        entries = [
            Entry(1, i, ConfChange(ConfChangeKind.ADD_VOTER, v).encode(), EntryKind.CONF_CHANGE)
            for i, v in enumerate(sorted(voters), start=1)
        ]
        self.log.append(entries)
        self.log.commit_to(len(entries))
        self.term = 1
        self.voters = set(voters)

    # == roles ==========================================================================

    def _become_follower(self, term: int, lead: NodeId) -> None:
        self._reset(term)
        self.role, self.lead = Role.FOLLOWER, lead
        self._step, self._tick = self._step_follower, self._tick_election

    def _become_pre_candidate(self) -> None:
        # PreVote changes neither term nor vote: losing one disturbs nobody (thesis §9.6).
        self.role, self.lead = Role.PRE_CANDIDATE, NONE
        self._votes = {}
        self._randomize_election_timeout()
        self._step, self._tick = self._step_candidate, self._tick_election

    def _become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE
        self._step, self._tick = self._step_candidate, self._tick_election

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.role, self.lead = Role.LEADER, self.id
        self._step, self._tick = self._step_leader, self._tick_heartbeat
        # Entries from earlier terms commit only through one of ours (§5.4.2): the no-op.
        # A membership change waits until it commits (thesis §4.1, the single-server bug).
        self.pending_conf_index = self.log.last_index + 1
        self._append([Entry(self.term, self.log.last_index + 1)])

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term, self.vote = term, NONE
        self.lead = NONE
        self.election_elapsed = self.heartbeat_elapsed = 0
        self._randomize_election_timeout()
        self.lead_transferee = NONE
        self._votes = {}
        self._pending_reads.clear()
        self._reads_awaiting_commit.clear()
        self._leader_ticks = 0
        self._lease_acks.clear()
        last = self.log.last_index
        self.prs = {v: Progress(next=last + 1) for v in self.voters}
        if self.id in self.prs:
            self.prs[self.id].match = last

    def _randomize_election_timeout(self) -> None:
        # Uniform in [E, 2E): split votes become unlikely to repeat (§5.2).
        election = self.cfg.election_ticks
        self.randomized_election_timeout = election + self._rng.randrange(election)

    def _campaign(self, transfer: bool = False) -> None:
        if self.cfg.pre_vote and not transfer:
            self._become_pre_candidate()
            kind, term = MT.PRE_VOTE, self.term + 1
        else:
            self._become_candidate()
            kind, term = MT.VOTE, self.term
        self._votes = {self.id: True}
        if self._tally() is True:  # a single-voter cluster wins alone
            self._won_election()
            return
        context = TRANSFER_CONTEXT if transfer else b""
        for v in sorted(self.voters - {self.id}):
            self._send(
                kind,
                v,
                term=term,
                index=self.log.last_index,
                log_term=self.log.last_term,
                context=context,
            )

    def _won_election(self) -> None:
        if self.role is Role.PRE_CANDIDATE:
            self._campaign(transfer=True)  # skip a second pre-vote round: we just won one
        else:
            self._become_leader()

    # == ticks ==========================================================================

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self._promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self._campaign()

    def _tick_heartbeat(self) -> None:
        self._leader_ticks += 1
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_ticks:
            self.election_elapsed = 0
            if self.cfg.check_quorum and not self._quorum_recently_active():
                self._become_follower(self.term, NONE)  # CheckQuorum: we may be cut off
                return
            self.lead_transferee = NONE  # a transfer that took an election timeout failed
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            if self._can_quiesce():
                self._quiesce()
            elif self.cfg.check_quorum:
                self._broadcast_heartbeat(lease_context(self._leader_ticks), self.cfg.quiesce)
            else:
                self._broadcast_heartbeat(skip_appended=self.cfg.quiesce)
            for pr in self.prs.values():
                pr.appended_since_beat = False

    # == leases ========================================================================
    #
    # A leader holds a lease for cfg.lease_ticks of its own ticks from the newest heartbeat
    # round a quorum acknowledged (counting itself, "now"). Every voter that acknowledged
    # it heard a leader then, so under CheckQuorum it ignores vote requests for E of its
    # own ticks: no other leader can be elected before the lease ends, as long as the
    # leader's ticks do not run slower than theirs by more than cfg.max_clock_drift. The
    # core counts ticks, never reads a clock: how long a tick lasts is the driver's, and
    # a slow clock on the leader is exactly a lease that lasts too long.

    def holds_lease(self) -> bool:
        """May this leader answer a read from its own state, with no quorum round?"""
        if self.role is not Role.LEADER or self.quiesced or not self.cfg.check_quorum:
            return False
        if not self._committed_in_term():
            return False  # our state may lag the previous leader's commits
        return self._leader_ticks < self._lease_start() + self.cfg.lease_ticks

    def _lease_start(self) -> int:
        """The tick of the newest round a quorum of voters acknowledged (-1: none)."""
        acked = sorted(
            (self._leader_ticks if v == self.id else self._lease_acks.get(v, -1))
            for v in self.voters
        )
        return acked[len(acked) - self._quorum()]

    def _ack_lease_round(self, context: bytes, src: NodeId) -> None:
        tick = lease_tick(context)
        if tick is None:
            read = self._pending_reads.get(context)
            if read is None:
                return
            tick = read.sent_tick  # a ReadIndex round renews the lease too
        if tick > self._lease_acks.get(src, -1):
            self._lease_acks[src] = tick

    # == quiescence =====================================================================
    #
    # An idle group costs a heartbeat per follower per tick and a wake-up of its driver;
    # a node hosting hundreds of partitions spends its CPU on nothing. So a leader with
    # nothing left to replicate sends one last heartbeat marked "quiesce" and stops
    # ticking; a follower that holds exactly that log, all of it committed, stops too
    # (CockroachDB's quiescence). Any other message, a proposal, a read or a transfer
    # wakes a node, and the host's node-level liveness (one ping per node pair, not per
    # group) wakes the groups of a peer that fell silent: `on_peer_down`.
    #
    # Ticks are only liveness in Raft: skipping them cannot break safety, only delay an
    # election, which is why waking on every message and on a silent peer suffices.
    #
    # Busy groups: a group that may go quiet also sends no tick's heartbeat to a follower
    # it sent an append since the last tick. The append did what the heartbeat would: it
    # resets the follower's election clock, carries the commit index (the whole of it,
    # as the follower then holds the entries), and its answer counts for CheckQuorum and
    # wakes a stalled pipeline. A follower sent nothing (a full window, a paused probe, a
    # quiet interval) still gets its heartbeat, so a lost append is found as before. The
    # heartbeat's lease round is what is given up, which is why this comes with
    # quiescence (no lease reads). With 64 busy partitions per node, the ticks'
    # heartbeats and their answers were two in five of the Raft messages a node sent.

    def _can_quiesce(self) -> bool:
        """Nothing left to do: every live follower holds, has committed and been told of
        everything we have, they and we are a quorum, and no read, transfer or membership
        change is under way. (A leader cut off from its quorum stays awake, so that
        CheckQuorum steps it down.)"""
        last = self.log.last_index
        if (
            not self.cfg.quiesce
            or self.lead_transferee != NONE
            or self._pending_reads
            or self._reads_awaiting_commit
            or self.log.commit != last
            or self.log.applied != last
            or not self._committed_in_term()
        ):
            return False
        followers = [v for v in self.voters if v != self.id]
        live = [v for v in followers if v not in self._peers_down]
        return len(live) + 1 >= self._quorum() and all(self._holds_all(v, last) for v in live)

    def _holds_all(self, peer: NodeId, last: int) -> bool:
        """`peer` holds our log up to `last` and answered lately. (A peer whose process is
        down need not: when it is heard from again, `on_peer_up` wakes us to catch it up.)"""
        pr = self.prs.get(peer)
        return pr is not None and pr.match == last and pr.recent_active

    def _quiesce(self) -> None:
        self.quiesced = True
        for v in sorted(self.voters - {self.id}):
            commit = min(self.prs[v].match, self.log.commit) if v in self.prs else 0
            self._send(MT.HEARTBEAT, v, commit=commit, context=QUIESCE_CONTEXT)

    def _wake(self) -> None:
        if not self.quiesced:
            return
        self.quiesced = False
        self.heartbeat_elapsed = 0
        if self.role is Role.LEADER:
            # A fresh CheckQuorum round: answers from before the quiet prove nothing now.
            self.election_elapsed = 0
            for v, pr in self.prs.items():
                pr.recent_active = v == self.id

    # == stepping by role ===============================================================

    def _step_follower(self, m: Message) -> None:
        if m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
            self.election_elapsed = 0
            self.lead = m.src
            self._handle_from_leader(m)
        elif m.type is MT.TIMEOUT_NOW and self._promotable():
            self._campaign(transfer=True)
        elif m.type is MT.READ_INDEX_RESP and m.src == self.lead:
            self.log.commit_to(min(m.commit, self.log.last_index))
            self._read_states.append(ReadState(m.index, m.context))

    def _step_candidate(self, m: Message) -> None:
        if m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
            self._become_follower(m.term, m.src)  # a leader of our term exists (§5.2)
            self._handle_from_leader(m)
            return
        expected = MT.PRE_VOTE_RESP if self.role is Role.PRE_CANDIDATE else MT.VOTE_RESP
        if m.type is not expected:
            return
        self._votes[m.src] = not m.reject
        outcome = self._tally()
        if outcome is True:
            self._won_election()
        elif outcome is False:
            self._become_follower(self.term, NONE)

    def _step_leader(self, m: Message) -> None:
        if m.type is MT.READ_INDEX and m.src in self.voters:
            self._lead_read(m.context, m.src)
            return
        pr = self.prs.get(m.src)
        if pr is None or m.type not in (MT.APPEND_RESP, MT.HEARTBEAT_RESP):
            return
        pr.recent_active = True
        if m.type is MT.APPEND_RESP:
            self._handle_append_response(m, pr)
            return
        if pr.state is ProgressState.SNAPSHOT:
            # Our stream to it is ordered, so a heartbeat answered after the snapshot was
            # sent means the snapshot was handled or lost: probe, and resend if needed.
            pr.become_probe()
        pr.probe_sent = False
        if pr.state is ProgressState.REPLICATE and pr.paused(self.cfg.max_inflight_appends):
            # A full window whose appends were all lost would wait forever: the follower
            # is alive, so free one slot and send, and a reject will rewind us.
            pr.inflight.popleft()
        if pr.match < self.log.last_index:
            self._send_append(m.src)
        if m.context:
            self._ack_lease_round(m.context, m.src)
            self._ack_read(m.context, m.src)

    # == message handling ===============================================================

    def _accept_higher_term(self, m: Message) -> bool:
        """A message from a higher term: adopt the term, unless it should be ignored."""
        if m.type in (MT.VOTE, MT.PRE_VOTE):
            heard_leader_recently = (
                self.cfg.check_quorum
                and self.lead != NONE
                and self.election_elapsed < self.cfg.election_ticks
            )
            if heard_leader_recently and m.context != TRANSFER_CONTEXT:
                return False  # a live leader exists: do not let a straggler depose it
        if m.type is MT.PRE_VOTE or (m.type is MT.PRE_VOTE_RESP and not m.reject):
            return True  # pre-votes carry a prospective term; they never change ours
        from_leader = m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT)
        self._become_follower(m.term, m.src if from_leader else NONE)
        return True

    def _answer_stale(self, m: Message) -> None:
        if m.type in (MT.APPEND, MT.HEARTBEAT) and (self.cfg.check_quorum or self.cfg.pre_vote):
            # A deposed leader whose vote requests we ignore would never learn the new
            # term; tell it, so it steps down.
            self._send(MT.APPEND_RESP, m.src)
        elif m.type is MT.PRE_VOTE:
            self._send(MT.PRE_VOTE_RESP, m.src, reject=True)

    def _handle_vote_request(self, m: Message) -> None:
        response = MT.VOTE_RESP if m.type is MT.VOTE else MT.PRE_VOTE_RESP
        can_vote = (
            self.vote == m.src
            or (self.vote == NONE and self.lead == NONE)
            or (m.type is MT.PRE_VOTE and m.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            self._send(response, m.src, term=m.term)
            if m.type is MT.VOTE:
                self.election_elapsed = 0
                self.vote = m.src
        else:
            self._send(response, m.src, reject=True)

    def _handle_from_leader(self, m: Message) -> None:
        if m.type is MT.APPEND:
            self._handle_append(m)
        elif m.type is MT.HEARTBEAT:
            self.log.commit_to(min(m.commit, self.log.last_index))
            if m.context == QUIESCE_CONTEXT and m.commit == self.log.last_index:
                self.quiesced = True  # we hold the leader's whole log: go quiet with it
                return  # unanswered: an answer would wake the leader
            self._send(MT.HEARTBEAT_RESP, m.src, context=m.context)
        else:
            self._handle_snapshot(m)

    def _handle_append(self, m: Message) -> None:
        if m.index < self.log.commit:
            self._send(MT.APPEND_RESP, m.src, index=self.log.commit)
            return
        last_new = self.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self._send(MT.APPEND_RESP, m.src, index=last_new)
            return
        # Fast backtracking: point the leader at our last entry that could match.
        hint = self.log.find_conflict_by_term(min(m.index, self.log.last_index), m.log_term)
        self._send(
            MT.APPEND_RESP,
            m.src,
            index=m.index,
            reject=True,
            reject_hint=hint,
            log_term=self.log.term(hint) or 0,
        )

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        assert snap is not None
        if snap.index <= self.log.commit:
            self._send(MT.APPEND_RESP, m.src, index=self.log.commit)
            return
        if self.log.match_term(snap.index, snap.term):
            self.log.commit_to(snap.index)  # we have those entries: just commit them
        else:
            self.log.restore(snap)
            self.voters = set(snap.voters)
        self._send(MT.APPEND_RESP, m.src, index=self.log.last_index)

    def _handle_append_response(self, m: Message, pr: Progress) -> None:
        if m.reject:
            self._handle_append_rejected(m, pr)
            return
        was_paused = pr.paused(self.cfg.max_inflight_appends)
        if not pr.maybe_update(m.index):
            return
        caught_up_from_snapshot = (
            pr.state is ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot
        )
        if pr.state is ProgressState.PROBE or caught_up_from_snapshot:
            pr.become_replicate()
        else:
            pr.acked(m.index)
        if self._maybe_commit():
            self._broadcast_append()
        elif was_paused:
            self._send_append(m.src)
        while self._send_append(m.src, send_empty=False):
            pass  # fill the pipeline
        if m.src == self.lead_transferee and pr.match == self.log.last_index:
            self._send(MT.TIMEOUT_NOW, m.src)

    def _handle_append_rejected(self, m: Message, pr: Progress) -> None:
        probe_from = m.reject_hint
        if m.log_term > 0:
            probe_from = self.log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decrease_to(m.index, probe_from):
            if pr.state is ProgressState.REPLICATE:
                pr.become_probe()
            self._send_append(m.src)

    # == leader internals ===============================================================

    def _append(self, entries: list[Entry]) -> None:
        self.log.append(entries)
        self.prs[self.id].maybe_update(self.log.last_index)
        self._maybe_commit()  # a single-voter cluster commits alone
        self._broadcast_append()

    def _maybe_commit(self) -> bool:
        matches = sorted((self.prs[v].match for v in self.voters if v in self.prs), reverse=True)
        if len(matches) < self._quorum():
            return False
        n = matches[self._quorum() - 1]
        if n <= self.log.commit or self.log.term(n) != self.term:
            return False  # only entries of our own term commit by counting (§5.4.2)
        self.log.commit_to(n)
        self._on_commit_in_term()
        return True

    def _on_commit_in_term(self) -> None:
        waiting, self._reads_awaiting_commit = self._reads_awaiting_commit, []
        for context, origin in waiting:
            self._lead_read(context, origin)

    def _lead_read(self, context: bytes, origin: NodeId, lease: bool = False) -> None:
        """Start a read for this leader or a follower: its index is our commit index, once
        that is our own term's and a quorum confirms we still lead."""
        if not self._committed_in_term():
            # Our commit index may lag the previous leader's until our no-op commits.
            self._reads_awaiting_commit.append((context, origin))
        elif ((lease or self.cfg.lease_reads) and self.holds_lease()) or len(self.voters) == 1:
            self._read_ready(ReadState(self.log.commit, context), origin)
        else:
            read = _PendingRead(self.log.commit, origin, {self.id}, self._leader_ticks)
            self._pending_reads[context] = read
            self._broadcast_heartbeat(context)

    def _read_ready(self, rs: ReadState, origin: NodeId) -> None:
        if origin == self.id:
            self._read_states.append(rs)
            return
        pr = self.prs.get(origin)
        commit = min(pr.match, self.log.commit) if pr else 0  # as a heartbeat's
        self._send(MT.READ_INDEX_RESP, origin, index=rs.index, context=rs.context, commit=commit)

    def _send_append(self, to: NodeId, send_empty: bool = True) -> bool:
        pr = self.prs[to]
        if pr.paused(self.cfg.max_inflight_appends):
            return False
        prev = pr.next - 1
        try:
            prev_term = self.log.term(prev)
            hi = min(self.log.last_index + 1, pr.next + self.cfg.max_entries_per_append)
            entries = (
                self.log.slice_bytes(pr.next, hi, self.cfg.max_append_bytes)
                if pr.next <= self.log.last_index
                else []
            )
        except Compacted:
            return self._send_snapshot(to, pr)
        if not entries and not send_empty:
            return False
        assert prev_term is not None
        self._send(
            MT.APPEND,
            to,
            index=prev,
            log_term=prev_term,
            entries=tuple(entries),
            commit=self.log.commit,
        )
        pr.sent(entries[-1].index if entries else prev)
        return True

    def _send_snapshot(self, to: NodeId, pr: Progress) -> bool:
        snap = self.log.snapshot
        assert snap is not None, "entries are compacted but there is no snapshot"
        self._send(MT.SNAPSHOT, to, snapshot=snap)
        pr.become_snapshot(snap.index)
        return True

    def _broadcast_append(self) -> None:
        for v in sorted(self.voters - {self.id}):
            self._send_append(v)
            # Entries past one append's bytes go at once to a follower that keeps up,
            # not one append per acknowledgement (a probing follower is sent no more).
            # Usually the first append took them all, and the loop costs one comparison.
            pr = self.prs[v]
            while (
                pr.state is ProgressState.REPLICATE
                and pr.next <= self.log.last_index
                and self._send_append(v, send_empty=False)
            ):
                pass

    def _broadcast_heartbeat(self, context: bytes = b"", skip_appended: bool = False) -> None:
        """A heartbeat to every follower; with `skip_appended`, not to one that was sent an
        append since the last heartbeat tick: the append did all a tick's heartbeat does
        (see "busy groups" under quiescence)."""
        for v in sorted(self.voters - {self.id}):
            if skip_appended and self.prs[v].appended_since_beat:
                continue
            commit = min(self.prs[v].match, self.log.commit)
            self._send(MT.HEARTBEAT, v, commit=commit, context=context)

    def _ack_read(self, context: bytes, src: NodeId) -> None:
        read = self._pending_reads.get(context)
        if read is None:
            return
        read.acks.add(src)
        if len(read.acks & self.voters) < self._quorum():
            return
        # A quorum confirmed our leadership as of this round, and so of every earlier one.
        while self._pending_reads:
            ctx, pending = next(iter(self._pending_reads.items()))
            del self._pending_reads[ctx]
            self._read_ready(ReadState(pending.index, ctx), pending.origin)
            if ctx == context:
                break

    def _quorum_recently_active(self) -> bool:
        active = sum(
            1 for v in self.voters if v == self.id or (v in self.prs and self.prs[v].recent_active)
        )
        for v, pr in self.prs.items():
            pr.recent_active = v == self.id
        return active >= self._quorum()

    # == membership =====================================================================

    def _apply_conf_change(self, change: ConfChange) -> None:
        if change.kind is ConfChangeKind.ADD_VOTER:
            self.voters.add(change.node_id)
            if self.role is Role.LEADER and change.node_id not in self.prs:
                self.prs[change.node_id] = Progress(next=self.log.last_index + 1)
                self._send_append(change.node_id)
            return
        self.voters.discard(change.node_id)
        if self.role is not Role.LEADER:
            return
        self.prs.pop(change.node_id, None)
        if change.node_id == self.id:
            self._become_follower(self.term, NONE)  # a removed leader steps down
            return
        if self.lead_transferee == change.node_id:
            self.lead_transferee = NONE
        if self._maybe_commit():  # a smaller quorum may commit more
            self._broadcast_append()

    # == small helpers ==================================================================

    def _check_can_propose(self) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(self.id, self.lead)
        if self.lead_transferee != NONE:
            raise ProposalDropped(f"leadership is being transferred to {self.lead_transferee}")

    def _committed_in_term(self) -> bool:
        return self.log.term(self.log.commit) == self.term

    def _promotable(self) -> bool:
        return self.id in self.voters

    def _quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def _tally(self) -> bool | None:
        """True: won; False: lost; None: undecided."""
        granted = sum(1 for v, ok in self._votes.items() if ok and v in self.voters)
        rejected = sum(1 for v, ok in self._votes.items() if not ok and v in self.voters)
        if granted >= self._quorum():
            return True
        if rejected >= self._quorum():
            return False
        return None

    def _hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.commit)

    def _send(self, kind: MessageType, to: NodeId, term: int | None = None, **fields: Any) -> None:
        self._msgs.append(Message(kind, self.id, to, self.term if term is None else term, **fields))
