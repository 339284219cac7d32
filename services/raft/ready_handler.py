"""Steps 2-5 of a Ready (send, apply, advance, serve reads), written once.

The asyncio driver (`node.py`) and the deterministic simulator (`sim/cluster.py`) both
persist a Ready their own way (a thread with fsync; a dict) and then hand it here, so
the simulator's thousands of seeds exercise the very code that runs in production.

A leader sends its appends *before* its own persist (`before_persist`), so the
followers' fsyncs run alongside its own instead of after it (Raft thesis §10.2.1; etcd
does the same). It is safe because of how the drivers step: the core counts the
leader's own copy from the moment it appends, but no acknowledgement is stepped until
this Ready's persist has returned, so no entry commits on a copy the leader has not
made durable. A leader that crashes first loses only entries no one acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable

from services.raft.core import RaftCore
from services.raft.messages import Entry, EntryKind, Message, MessageType, ReadState
from services.raft.ready import Ready
from services.raft.role import Role
from services.raft.statemachine import StateMachine

OnApplied = Callable[[Entry, object], None]
OnReadReady = Callable[[ReadState, int], None]

# What only a leader sends and no peer's safety needs persisted first: log and commit
# index going out. Votes and their answers, and TimeoutNow, always wait for the persist.
_SENT_BEFORE_PERSIST = frozenset({MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT})


def sent_before_persist(rd: Ready, msg: Message) -> bool:
    return rd.soft_state.role is Role.LEADER and msg.type in _SENT_BEFORE_PERSIST


class ReadyHandler:
    def __init__(
        self,
        core: RaftCore,
        state_machine: StateMachine,
        send: Callable[[Message], None],
        on_applied: OnApplied,
        on_read_ready: OnReadReady,
    ) -> None:
        self.core = core
        self._sm = state_machine
        self._send = send
        self._on_applied = on_applied  # every committed entry, with the state machine's result
        self._on_read_ready = on_read_ready  # a read state, and the applied index serving it
        self._waiting_reads: list[ReadState] = []

    def before_persist(self, rd: Ready) -> None:
        """A leader's appends and heartbeats: on their way while step 1 (persist) runs."""
        for msg in rd.messages:
            if sent_before_persist(rd, msg):
                self._send(msg)

    def after_persist(self, rd: Ready) -> None:
        """Everything else `rd` asks for once step 1 (persist) is done."""
        for msg in rd.messages:  # 2. send: only now may peers learn what we persisted
            if not sent_before_persist(rd, msg):
                self._send(msg)
        if rd.snapshot is not None:  # 3. apply: the snapshot first, then entries in order
            self._sm.restore(rd.snapshot.data)
        for entry in rd.committed_entries:
            command = entry.data if entry.kind is EntryKind.NORMAL else b""
            result = self._sm.apply(entry.index, command) if command else None
            self._on_applied(entry, result)
        self.core.advance(rd)  # 5. advance, so applied covers this Ready's entries
        self._waiting_reads += rd.read_states  # 4. reads, each once applied reaches it
        self._serve_reads()

    def drop_reads(self) -> None:
        """A deposed leader's waiting reads can never be served."""
        self._waiting_reads.clear()

    def _serve_reads(self) -> None:
        applied = self.core.log.applied
        still_waiting = []
        for rs in self._waiting_reads:
            if rs.index > applied:
                still_waiting.append(rs)
            else:
                self._on_read_ready(rs, applied)
        self._waiting_reads = still_waiting
