"""A simulated cluster of Raft cores: one thread, one seed, checked at every step.

Time advances in micro-steps; every `micro_per_tick` of them each live node ticks.
Message delays are counted in micro-steps, so messages overtake one another. After every
delivery and tick, each live node's Ready is persisted to its in-memory storage and then
handed to `ReadyHandler`, the production driver's own send → apply → advance → reads
code; the safety checker sees each fact as it happens.

A crash drops a node's core and state machine: what it had not yet persisted is gone.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from services.raft.config import RaftConfig
from services.raft.core import RaftCore
from services.raft.errors import NotLeader, ProposalDropped
from services.raft.liveness import PeerLiveness, is_ping, ping
from services.raft.messages import ConfChange, ConfChangeKind, Entry, NodeId, ReadState
from services.raft.ready_handler import ReadyHandler
from services.raft.role import Role
from services.raft.sim.checker import SafetyChecker
from services.raft.sim.network import SimNetwork
from services.raft.sim.register import RegisterMachine
from services.raft.storage import MemoryStorage


class LivenessFailure(AssertionError):
    """The cluster did not make the progress it must once faults stopped."""


@dataclass(frozen=True)
class SimOptions:
    nodes: int = 3
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    lease_reads: bool = False
    micro_per_tick: int = 5
    compact_every: int = 0  # entries applied past the snapshot before compacting; 0: never
    max_entries_per_append: int = 16
    max_append_bytes: int = 1024 * 1024
    max_inflight_appends: int = 8
    quiesce: bool = False  # quiet groups, woken by node-level liveness (liveness.py)


@dataclass
class SimNode:
    id: NodeId
    config: RaftConfig
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    core: RaftCore | None = None
    sm: RegisterMachine = field(default_factory=RegisterMachine)
    handler: ReadyHandler | None = None
    led_term: int = -1
    liveness: PeerLiveness | None = None  # with quiescence: this process's view of peers

    @property
    def alive(self) -> bool:
        return self.core is not None


@dataclass
class _Write:
    key: str
    value: str
    invoked_tick: int
    last_try_tick: int
    acked: bool = False
    # Where the latest attempt was proposed: (node, term). A client retries only once
    # that leader is gone or deposed; until then the entry is in its log and will commit.
    attempt: tuple[NodeId, int] | None = None


class SimCluster:
    def __init__(self, seed: int, options: SimOptions = SimOptions()) -> None:
        self.seed = seed
        self.options = options
        self.rng = random.Random(seed)
        self.net = SimNetwork(random.Random(self.rng.random()))
        self.checker = SafetyChecker()
        self.now = 0  # micro-steps
        self.nodes: dict[NodeId, SimNode] = {}
        self._cmd_ids = itertools.count(1)
        self._read_ids = itertools.count(1)
        self.writes: dict[str, _Write] = {}
        self._proposed: dict[tuple[NodeId, int], str] = {}  # (node, index) -> command id
        self._reads: dict[bytes, int] = {}  # read context -> commit index at invoke
        self.reads_served = 0
        # A fault: a node dies after a Ready's early messages went out, before it stored
        # the Ready's entries (the window a leader's early appends open).
        self.crash_before_persist_chance = 0.0
        voters = tuple(f"n{i}" for i in range(1, options.nodes + 1))
        for node_id in voters:
            self.add_node(node_id, voters)

    # -- membership and life cycle ------------------------------------------------------

    def add_node(self, node_id: NodeId, voters: tuple[NodeId, ...] = ()) -> None:
        """A node process; `voters` empty for a node that joins a running cluster."""
        o = self.options
        config = RaftConfig(
            node_id=node_id,
            voters=voters,
            election_ticks=o.election_ticks,
            heartbeat_ticks=o.heartbeat_ticks,
            pre_vote=o.pre_vote,
            check_quorum=o.check_quorum,
            lease_reads=o.lease_reads,
            quiesce=o.quiesce,
            max_entries_per_append=o.max_entries_per_append,
            max_append_bytes=o.max_append_bytes,
            max_inflight_appends=o.max_inflight_appends,
        )
        self.nodes[node_id] = SimNode(node_id, config)
        self.restart(node_id)
        for other in self.nodes.values():
            if other.liveness is not None and other.id != node_id:
                other.liveness.add(node_id)

    def crash(self, node_id: NodeId) -> None:
        node = self.nodes[node_id]
        node.core, node.sm, node.handler = None, RegisterMachine(), None

    def restart(self, node_id: NodeId) -> None:
        node = self.nodes[node_id]
        restored = node.storage.recover()
        node.core = RaftCore(node.config, random.Random(self.rng.random()), restored)
        node.sm = RegisterMachine()
        if restored.snapshot is not None:
            node.sm.restore(restored.snapshot.data)
        node.handler = ReadyHandler(
            node.core,
            node.sm,
            lambda m: self.net.send(m, self.now),
            lambda entry, _result: self._on_applied(node, entry),
            lambda rs, applied: self._on_read_ready(node, rs, applied),
        )
        node.led_term = -1
        if self.options.quiesce:  # a fresh process: every peer alive until proven silent
            peers = [p for p in self.nodes if p != node_id]
            node.liveness = PeerLiveness(peers, self.options.election_ticks)

    def live(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.core is not None]

    def core(self, node_id: NodeId) -> RaftCore:
        core = self.nodes[node_id].core
        assert core is not None, f"{node_id} is down"
        return core

    # -- time -----------------------------------------------------------------------------

    @property
    def ticks(self) -> int:
        return self.now // self.options.micro_per_tick

    def micro_step(self) -> None:
        self.now += 1
        for msg in self.net.due(self.now):
            node = self.nodes.get(msg.dst)
            if node is None or node.core is None:
                continue
            self._heard(node, msg.src)
            if not is_ping(msg):
                node.core.step(msg)
            self._handle_ready(node)
        if self.now % self.options.micro_per_tick == 0:
            for node in self.live():
                assert node.core is not None
                self._tick_liveness(node)
                node.core.tick()
                self._handle_ready(node)

    def _heard(self, node: SimNode, peer: NodeId) -> None:
        if node.liveness is not None and node.liveness.heard(peer) and node.core is not None:
            node.core.on_peer_up(peer)

    def _tick_liveness(self, node: SimNode) -> None:
        """What the production host does each tick: ping every peer, and tell the core
        which peers fell silent."""
        if node.liveness is None or node.core is None:
            return
        for peer in node.liveness.peers:
            self.net.send(ping(node.id, peer), self.now)
        for peer in node.liveness.tick():
            node.core.on_peer_down(peer)

    def run_ticks(self, ticks: int, each_tick: Callable[[], None] | None = None) -> None:
        for _ in range(ticks * self.options.micro_per_tick):
            self.micro_step()
            if each_tick and self.now % self.options.micro_per_tick == 0:
                each_tick()

    def run_until(self, done: Callable[[], bool], max_ticks: int, what: str) -> int:
        """Run until `done()`; returns the ticks it took. LivenessFailure past max_ticks."""
        start = self.ticks
        while not done():
            if self.ticks - start >= max_ticks:
                raise LivenessFailure(f"seed {self.seed}: no {what} within {max_ticks} ticks")
            self.micro_step()
        return self.ticks - start

    # -- the Ready loop -------------------------------------------------------------------

    def _handle_ready(self, node: SimNode) -> None:
        core, handler = node.core, node.handler
        assert core is not None and handler is not None
        while core.has_ready():
            rd = core.ready()
            if core.role is Role.LEADER and node.led_term != core.term:
                node.led_term = core.term
                self.checker.on_leader(node.id, core.term, core)
            handler.before_persist(rd)  # a leader's appends, as the production driver does
            chance = self.crash_before_persist_chance
            if rd.entries and chance and self.rng.random() < chance:
                self.crash(node.id)  # they went out; this node never stored them
                return
            prev_term = node.storage.term(rd.entries[0].index - 1) if rd.entries else None
            node.storage.persist(rd)  # 1. persist
            self.checker.on_persist(node.id, rd.entries, prev_term)
            handler.after_persist(rd)  # 2-5. the production driver's own code
            self._maybe_compact(node)

    def _on_applied(self, node: SimNode, entry: Entry) -> None:
        self.checker.on_apply(node.id, entry)
        cmd_id = self._proposed.pop((node.id, entry.index), None)
        if cmd_id is not None and entry.data.split(b" ", 1)[0].decode() == cmd_id:
            self.writes[cmd_id].acked = True

    def _on_read_ready(self, node: SimNode, rs: ReadState, applied: int) -> None:
        invoked_commit = self._reads.pop(rs.context, None)
        if invoked_commit is not None:
            self.reads_served += 1
            if not self.options.lease_reads:
                self.checker.on_read(node.id, invoked_commit, applied)

    def _maybe_compact(self, node: SimNode) -> None:
        every = self.options.compact_every
        core = node.core
        assert core is not None
        if every and core.log.applied - core.log.snap_index >= every:
            snapshot = core.compact(core.log.applied, node.sm.snapshot())
            node.storage.compact(snapshot)

    # -- clients --------------------------------------------------------------------------

    def leader(self) -> NodeId | None:
        """The live leader of the highest term, if any."""
        leaders = [n for n in self.live() if n.core and n.core.role is Role.LEADER]
        if not leaders:
            return None
        return max(leaders, key=lambda n: n.core.term if n.core else -1).id

    def write(self, key: str, value: str, via: NodeId | None = None) -> str:
        """Invoke a write; it is retried by `retry_writes` until acknowledged."""
        cmd_id = f"c{next(self._cmd_ids)}"
        self.writes[cmd_id] = _Write(key, value, self.ticks, self.ticks)
        self._propose(cmd_id, via)
        return cmd_id

    def _propose(self, cmd_id: str, via: NodeId | None) -> bool:
        target = via or self.leader()
        if target is None or not self.nodes[target].alive:
            return False
        w = self.writes[cmd_id]
        w.last_try_tick = self.ticks
        try:
            index = self.core(target).propose(f"{cmd_id} {w.key} {w.value}".encode())
        except (NotLeader, ProposalDropped):
            return False
        self._proposed[(target, index)] = cmd_id
        w.attempt = (target, self.core(target).term)
        self._handle_ready(self.nodes[target])
        return True

    def retry_writes(self, after_ticks: int) -> None:
        """Re-propose writes whose attempt timed out and whose leader is gone or deposed."""
        for cmd_id, w in self.writes.items():
            if w.acked or self.ticks - w.last_try_tick < after_ticks:
                continue
            if w.attempt is not None and self._still_leading(*w.attempt):
                continue
            self._propose(cmd_id, None)

    def _still_leading(self, node_id: NodeId, term: int) -> bool:
        core = self.nodes[node_id].core
        return core is not None and core.role is Role.LEADER and core.term == term

    def read(self, via: NodeId | None = None) -> bool:
        """Invoke a ReadIndex read on the leader, or on `via` (a follower forwards it to its
        leader); False when the node refused it (a definite failure)."""
        target = via or self.leader()
        if target is None or not self.nodes[target].alive:
            return False
        context = f"r{next(self._read_ids)}".encode()
        self._reads[context] = self.committed_index()
        try:
            self.core(target).read_index(context)
        except NotLeader:
            del self._reads[context]
            return False
        self._handle_ready(self.nodes[target])
        return True

    def committed_index(self) -> int:
        """The highest index known committed anywhere: durable commit indices only, since
        a commit index still in memory may die with its node before anyone learns it."""
        return max(n.storage.hard_state.commit for n in self.nodes.values())

    def change_membership(self, kind: ConfChangeKind, node_id: NodeId) -> bool:
        leader = self.leader()
        if leader is None:
            return False
        try:
            self.core(leader).propose_conf_change(ConfChange(kind, node_id))
        except (NotLeader, ProposalDropped):
            return False
        self._handle_ready(self.nodes[leader])
        return True

    # -- liveness ---------------------------------------------------------------------------

    def stable_leader(self) -> NodeId | None:
        """A leader that every live voter follows, in its term."""
        leader = self.leader()
        if leader is None:
            return None
        term = self.core(leader).term
        for n in self.live():
            assert n.core is not None
            if n.id in self.core(leader).voters and (n.core.term, n.core.lead) != (term, leader):
                return None
        return leader

    def all_writes_applied(self) -> bool:
        ids = set(self.writes)
        return all(ids <= n.sm.applied_ids for n in self.live() if n.core and n.id in n.core.voters)
