"""Steps 2-5 of a Ready (send, apply, advance, serve reads), written once.

The asyncio driver (`node.py`) and the deterministic simulator (`sim/cluster.py`) both
persist a Ready their own way (a thread with fsync; a dict) and then hand it here, so
the simulator's thousands of seeds exercise the very code that runs in production.
"""

from __future__ import annotations

from collections.abc import Callable

from services.raft.core import RaftCore
from services.raft.messages import Entry, EntryKind, Message, ReadState
from services.raft.ready import Ready
from services.raft.statemachine import StateMachine

OnApplied = Callable[[Entry, object], None]
OnReadReady = Callable[[ReadState, int], None]


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

    def after_persist(self, rd: Ready) -> None:
        """Everything `rd` asks for once step 1 (persist) is done."""
        for msg in rd.messages:  # 2. send: only now may peers learn what we persisted
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
