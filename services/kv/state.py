"""The KV state machine: deterministic, so every replica that applies the same commands in
the same order holds the same state.

Commands (msgpack maps, see commands.py):
    {"op": "put", "key", "value"}
    {"op": "del", "key"}
    {"op": "cas", "key", "expected_version", "value"}
    {"op": "append", "key", "value"}
    {"op": "batch", "ops": [command, ...]}    (answers {"results": [result, ...]})
each optionally with "session": [client_id, seq, acked_through], and each but a batch
with "fence": [name, token]. A session's retried command (same seq) returns the first
result without applying again (the Raft thesis, §6.3); a batch's session covers the
batch as a whole. Results are kept until the client acknowledges them.
A fenced command whose token is below the highest seen for its fence name is refused and
changes nothing; otherwise its token becomes the highest.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from services.kv import commands
from services.replicated.fences import Fences

EVENT_HISTORY = 10_000


@dataclass(frozen=True)
class Record:
    value: bytes
    version: int
    create_revision: int
    mod_revision: int


@dataclass
class ClientSession:
    """One client's answered writes: kept until the client says it has their answers
    (`acked_through`), so a client may have many writes in flight and retry any of them."""

    acked_through: int = 0
    results: dict[int, dict[str, Any]] = field(default_factory=dict)

    def forget_through(self, seq: int) -> None:
        if seq > self.acked_through:
            self.acked_through = seq
            self.results = {s: r for s, r in self.results.items() if s > seq}

    @classmethod
    def restore(cls, saved: list[Any]) -> ClientSession:
        acked_through, results = saved
        if isinstance(results, dict):  # a snapshot from before acked_through: [seq, result]
            return cls(acked_through - 1, {acked_through: results})
        return cls(acked_through, {seq: result for seq, result in results})


def _session_fields(session: list[Any]) -> tuple[str, int, int]:
    """(client id, seq, acked through); a command logged before acked_through had one
    write in flight: everything below its seq was answered."""
    client_id, seq, *rest = session
    return client_id, seq, rest[0] if rest else seq - 1


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

    def apply(self, index: int, command: bytes) -> dict[str, Any]:
        return self._applied_once(commands.decode(command))

    def _applied_once(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """`cmd`'s result, applying it at most once per session seq."""
        session = cmd.get("session")
        client, seq = None, 0
        if session:
            client_id, seq, acked_through = _session_fields(session)
            client = self.sessions.setdefault(client_id, ClientSession())
            client.forget_through(acked_through)
            if seq in client.results:
                return client.results[seq]  # a retry: the first answer, nothing applied again
            if seq <= client.acked_through:
                return {"error": "stale_session", "last_seq": client.acked_through}
        result: dict[str, Any] | None
        if cmd["op"] == "batch":  # each op as if applied alone, with its own session
            result = {"results": [self._applied_once(op) for op in cmd["ops"]]}
        else:
            fence = cmd.get("fence")
            result = self.fences.refuse(fence) if fence else None
            if result is None:
                result = self._apply(cmd)
        if client is not None:
            client.results[seq] = result
        return result

    def snapshot(self) -> bytes:
        state = {
            "data": {
                k: [r.value, r.version, r.create_revision, r.mod_revision]
                for k, r in self.data.items()
            },
            "revision": self.revision,
            "sessions": {
                k: [c.acked_through, list(c.results.items())] for k, c in self.sessions.items()
            },
            "fences": self.fences.snapshot(),
        }
        out: bytes = msgpack.packb(state, use_bin_type=True)
        return out

    def restore(self, data: bytes) -> None:
        state = msgpack.unpackb(data, raw=False)
        self.data = {k: Record(*v) for k, v in state["data"].items()}
        self.revision = state["revision"]
        self.sessions = {k: ClientSession.restore(v) for k, v in state["sessions"].items()}
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

    def _apply(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        if op == "put":
            return self._put(cmd["key"], cmd["value"])
        if op == "del":
            return self._delete(cmd["key"])
        if op == "cas":
            return self._cas(cmd["key"], cmd["expected_version"], cmd["value"])
        if op == "append":
            return self._append(cmd["key"], cmd["value"])
        raise AssertionError(f"unknown command {op!r}: a replica is out of date")

    def _put(self, key: str, value: bytes) -> dict[str, Any]:
        record = self._write(key, value)
        return {"revision": self.revision, "record": _fields(record)}

    def _append(self, key: str, value: bytes) -> dict[str, Any]:
        old = self.data.get(key)
        joined = (old.value if old else b"") + value
        if len(joined) > commands.MAX_VALUE_BYTES:
            return {"error": "too_large", "size": len(joined)}
        record = self._write(key, joined)
        return {"revision": self.revision, "record": _fields(record)}

    def _delete(self, key: str) -> dict[str, Any]:
        old = self.data.pop(key, None)
        if old is None:
            return {"deleted": False, "revision": self.revision}
        self.revision += 1
        self._emit(Event(self.revision, True, key, old))
        return {"deleted": True, "revision": self.revision}

    def _cas(self, key: str, expected_version: int, value: bytes) -> dict[str, Any]:
        current = self.data.get(key)
        version = current.version if current else 0
        if version != expected_version:
            return {
                "succeeded": False,
                "revision": self.revision,
                "record": _fields(current) if current else None,
            }
        record = self._write(key, value)
        return {"succeeded": True, "revision": self.revision, "record": _fields(record)}

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


def _fields(r: Record) -> list[Any]:
    return [r.value, r.version, r.create_revision, r.mod_revision]
