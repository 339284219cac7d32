"""The KV state machine: deterministic, so every replica that applies the same commands in
the same order holds the same state. Commands and results: commands.py, results.py.

A session's retried command (same seq) returns the first result without applying again
(the Raft thesis, §6.3); a batch's session covers the batch as a whole. Results are kept
until the client acknowledges them. A fenced command whose token is below the highest
seen for its fence name is refused and changes nothing; otherwise its token becomes the
highest.

Snapshot (format 1): {"v": 1, "data": {key: Record wire}, "revision",
"sessions": {client id: {"acked_through", "results": [[seq, result map], ...]}},
"fences": {name: highest token}}. Format 0 had positional sessions and untagged results.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.kv import commands, results
from services.kv.commands import (
    Append,
    Batch,
    CompareAndSwap,
    Delete,
    KvCommand,
    Put,
    Write,
)
from services.kv.results import (
    BatchApplied,
    Deleted,
    KvResult,
    Record,
    Swapped,
    WriteResult,
    Written,
)
from services.replicated.codec import FORMAT, pack, snapshot_version, unpack
from services.replicated.fences import Fences
from services.replicated.refusal import Refusal

EVENT_HISTORY = 10_000


@dataclass
class ClientSession:
    """One client's answered writes: kept until the client says it has their answers
    (`acked_through`), so a client may have many writes in flight and retry any of them."""

    acked_through: int = 0
    results: dict[int, KvResult] = field(default_factory=dict)

    def forget_through(self, seq: int) -> None:
        if seq > self.acked_through:
            self.acked_through = seq
            self.results = {s: r for s, r in self.results.items() if s > seq}

    def to_map(self) -> dict[str, Any]:
        return {
            "acked_through": self.acked_through,
            "results": [[seq, results.to_map(r)] for seq, r in self.results.items()],
        }

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> ClientSession:
        return cls(m["acked_through"], {seq: results.from_map(r) for seq, r in m["results"]})

    @classmethod
    def from_format0(cls, saved: list[Any]) -> ClientSession:
        acked_through, kept = saved
        if isinstance(kept, dict):  # from before acked_through: [seq, result]
            return cls(acked_through - 1, {acked_through: results.from_format0(kept)})
        return cls(acked_through, {seq: results.from_format0(r) for seq, r in kept})


@dataclass(frozen=True)
class Event:
    revision: int
    deleted: bool
    key: str
    record: Record


Listener = Callable[[Event], None]


class KvState:
    def __init__(self) -> None:
        self.data: dict[str, Record] = {}
        self.revision = 0
        self.sessions: dict[str, ClientSession] = {}
        self.fences = Fences()
        self.events: deque[Event] = deque(maxlen=EVENT_HISTORY)
        self.listeners: set[Listener] = set()

    # -- the StateMachine seam ------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> KvResult:
        return self._applied_once(commands.decode(command))

    def _applied_once(self, cmd: KvCommand) -> KvResult:
        """`cmd`'s result, applying it at most once per session seq."""
        client = None
        if cmd.session is not None:
            client = self.sessions.setdefault(cmd.session.client_id, ClientSession())
            client.forget_through(cmd.session.acked_through)
            kept = client.results.get(cmd.session.seq)
            if kept is not None:
                return kept  # a retry: the first answer, nothing applied again
            if cmd.session.seq <= client.acked_through:
                return results.stale_session(cmd.session.seq, client.acked_through)
        result: KvResult
        if isinstance(cmd, Batch):  # each op as if applied alone, with its own session
            result = BatchApplied(tuple(self._one(op) for op in cmd.ops))
        else:
            assert isinstance(cmd, Write), cmd
            refused = self.fences.refuse(cmd.fence) if cmd.fence else None
            result = refused or self._apply(cmd)
        if client is not None:
            assert cmd.session is not None
            client.results[cmd.session.seq] = result
        return result

    def _one(self, op: Write) -> WriteResult:
        result = self._applied_once(op)
        assert not isinstance(result, BatchApplied), "a batch holds no batch"
        return result

    def snapshot(self) -> bytes:
        return pack(
            {
                "v": FORMAT,
                "data": {k: r.to_wire() for k, r in self.data.items()},
                "revision": self.revision,
                "sessions": {k: c.to_map() for k, c in self.sessions.items()},
                "fences": self.fences.snapshot(),
            }
        )

    def restore(self, data: bytes) -> None:
        state = unpack(data)
        if snapshot_version(state) == 0:
            sessions = {k: ClientSession.from_format0(v) for k, v in state["sessions"].items()}
        else:
            sessions = {k: ClientSession.from_map(v) for k, v in state["sessions"].items()}
        self.data = {k: Record.from_wire(v) for k, v in state["data"].items()}
        self.revision = state["revision"]
        self.sessions = sessions
        self.fences.restore(state["fences"])
        self.events.clear()  # history before a snapshot is not kept; Watch says so

    # -- reads ----------------------------------------------------------------------------

    def get(self, key: str) -> Record | None:
        return self.data.get(key)

    def range(self, prefix: str, limit: int) -> tuple[list[tuple[str, Record]], bool]:
        keys = sorted(k for k in self.data if k.startswith(prefix))
        return [(k, self.data[k]) for k in keys[:limit]], len(keys) > limit

    def events_after(self, revision: int) -> list[Event] | None:
        """Events after `revision`; None when some were already forgotten."""
        if self.events and self.events[0].revision > revision + 1:
            return None
        if not self.events and revision < self.revision:
            return None
        return [e for e in self.events if e.revision > revision]

    # -- writes ---------------------------------------------------------------------------

    def _apply(self, cmd: Write) -> WriteResult:
        if isinstance(cmd, Put):
            record = self._write(cmd.key, cmd.value)
            return Written(self.revision, record)
        if isinstance(cmd, Delete):
            return self._delete(cmd.key)
        if isinstance(cmd, CompareAndSwap):
            return self._cas(cmd.key, cmd.expected_version, cmd.value)
        if isinstance(cmd, Append):
            return self._append(cmd.key, cmd.value)
        raise AssertionError(f"unknown command {cmd.TAG!r}: a replica is out of date")

    def _append(self, key: str, value: bytes) -> Written | Refusal:
        old = self.data.get(key)
        joined = (old.value if old else b"") + value
        if len(joined) > commands.MAX_VALUE_BYTES:
            return results.too_large(len(joined))
        record = self._write(key, joined)
        return Written(self.revision, record)

    def _delete(self, key: str) -> Deleted:
        old = self.data.pop(key, None)
        if old is None:
            return Deleted(False, self.revision)
        self.revision += 1
        self._emit(Event(self.revision, True, key, old))
        return Deleted(True, self.revision)

    def _cas(self, key: str, expected_version: int, value: bytes) -> Swapped:
        current = self.data.get(key)
        version = current.version if current else 0
        if version != expected_version:
            return Swapped(False, self.revision, current)
        record = self._write(key, value)
        return Swapped(True, self.revision, record)

    def _write(self, key: str, value: bytes) -> Record:
        self.revision += 1
        old = self.data.get(key)
        record = Record(
            value=value,
            version=old.version + 1 if old else 1,
            create_revision=old.create_revision if old else self.revision,
            mod_revision=self.revision,
        )
        self.data[key] = record
        self._emit(Event(self.revision, False, key, record))
        return record

    def _emit(self, event: Event) -> None:
        self.events.append(event)
        for listener in list(self.listeners):
            listener(event)
