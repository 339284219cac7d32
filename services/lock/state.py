"""The lock state machine: sessions, locks and their FIFO queues, deterministic on every
replica because everything it knows of time arrives inside commands. Commands and what
each returns: commands.py; results and refusals: results.py. A refusal changes nothing.
A retry with the session's last seq gets the first answer without applying again (Raft
thesis §6.3).

Time. `now` is the leader's session clock (services/replicated/leader_clock.py);
`clock_ms` is the highest seen.
A session expires only through an `expire` command whose `now` is past its deadline, so
every replica releases its locks at the same index. `lead` is a new leader's first
command: it extends every session to at least one TTL past the log's clock before that
leader may expire any (Chubby's grace period), so an election does not cost a healthy
session its locks.

The fencing token of a grant is the index of the command that granted it, so tokens
strictly increase per lock across leaders and restarts. One command grants a lock at most
once: an `expire` first takes every expiring session out of every queue, then releases
what they held.

Snapshot (format 1): {"v": 1, "clock_ms", "ended": [id, ...], "sessions": [{"id",
"owner", "ttl_ms", "expires_at_ms", "held", "waiting", "last_seq", "last_result"}],
"locks": {name: {"holder", "token", "since_wall_ms", "waiters"}}}. Format 0 had lists.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from services.lock import commands, results
from services.lock.commands import (
    Acquire,
    Cancel,
    Close,
    Create,
    Expire,
    KeepAlive,
    Lead,
    LockCommand,
    Release,
)
from services.lock.results import (
    Acquired,
    Cancelled,
    Closed,
    Expired,
    InOffice,
    KeptAlive,
    LockResult,
    Released,
    SessionCreated,
)
from services.replicated.codec import FORMAT, pack, snapshot_version, unpack
from services.replicated.refusal import Refusal

ENDED_MEMORY = 10_000  # ended session ids remembered, to say "expired" rather than "unknown"

ChangeKind = Literal["acquired", "released", "expired", "dequeued"]


@dataclass
class Session:
    id: int
    owner: str
    ttl_ms: int
    expires_at_ms: int
    held: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    last_seq: int = 0
    last_result: LockResult | None = None

    def to_map(self) -> dict[str, Any]:
        last = self.last_result
        return {
            "id": self.id,
            "owner": self.owner,
            "ttl_ms": self.ttl_ms,
            "expires_at_ms": self.expires_at_ms,
            "held": sorted(self.held),
            "waiting": sorted(self.waiting),
            "last_seq": self.last_seq,
            "last_result": results.RESULTS.to_map(last) if last is not None else None,
        }

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> Session:
        last = m["last_result"]
        return cls(
            m["id"],
            m["owner"],
            m["ttl_ms"],
            m["expires_at_ms"],
            set(m["held"]),
            set(m["waiting"]),
            m["last_seq"],
            results.from_map(last) if last is not None else None,
        )

    @classmethod
    def from_format0(cls, row: list[Any]) -> Session:
        sid, owner, ttl, expires, held, waiting, last_seq, last = row
        last_result = results.from_format0(last) if last is not None else None
        return cls(sid, owner, ttl, expires, set(held), set(waiting), last_seq, last_result)


@dataclass
class Lock:
    holder: int = 0  # session id; 0: free
    token: int = 0
    since_wall_ms: int = 0
    waiters: deque[int] = field(default_factory=deque)

    def to_map(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "token": self.token,
            "since_wall_ms": self.since_wall_ms,
            "waiters": list(self.waiters),
        }

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> Lock:
        return cls(m["holder"], m["token"], m["since_wall_ms"], deque(m["waiters"]))


@dataclass(frozen=True)
class Change:
    """One change to one lock, for waiters and watchers. `dequeued`: a waiter left the
    queue without being granted (its session ended, or it gave up)."""

    kind: ChangeKind
    name: str
    session: int
    owner: str
    token: int
    index: int


Listener = Callable[[Change], None]


class LockState:
    def __init__(self) -> None:
        self.sessions: dict[int, Session] = {}
        self.locks: dict[str, Lock] = {}
        self.ended: dict[int, None] = {}  # insertion-ordered, bounded by ENDED_MEMORY
        self.clock_ms = 0
        self.listeners: set[Listener] = set()

    # -- the StateMachine seam ------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> LockResult:
        cmd = commands.decode(command)
        if isinstance(cmd, Create | KeepAlive | Expire):
            self.clock_ms = max(self.clock_ms, cmd.now)
        if isinstance(cmd, Create):
            return self._create(index, cmd)
        if isinstance(cmd, Lead):
            return self._lead()
        if isinstance(cmd, Expire):
            return self._expire(cmd, index)
        session = self.sessions.get(cmd.session)
        if session is None:
            return self._missing(cmd.session)
        if cmd.seq and cmd.seq <= session.last_seq:
            if cmd.seq == session.last_seq and session.last_result is not None:
                return session.last_result  # a retry: the first answer, nothing applied again
            return results.stale_seq(session.last_seq)
        result = self._apply_to(session, cmd, index)
        if cmd.seq:
            session.last_seq, session.last_result = cmd.seq, result
        return result

    def snapshot(self) -> bytes:
        return pack(
            {
                "v": FORMAT,
                "clock_ms": self.clock_ms,
                "ended": list(self.ended),
                "sessions": [s.to_map() for s in self.sessions.values()],
                "locks": {n: lk.to_map() for n, lk in self.locks.items()},
            }
        )

    def restore(self, data: bytes) -> None:
        state = unpack(data)
        if snapshot_version(state) == 0:
            sessions = [Session.from_format0(row) for row in state["sessions"]]
            locks = {
                name: Lock(holder, token, since, deque(waiters))
                for name, (holder, token, since, waiters) in state["locks"].items()
            }
        else:
            sessions = [Session.from_map(m) for m in state["sessions"]]
            locks = {name: Lock.from_map(m) for name, m in state["locks"].items()}
        self.clock_ms = state["clock_ms"]
        self.ended = dict.fromkeys(state["ended"])
        self.sessions = {s.id: s for s in sessions}
        self.locks = locks

    # -- reads ----------------------------------------------------------------------------

    def lock(self, name: str) -> Lock | None:
        return self.locks.get(name)

    def due(self, now_ms: int) -> list[int]:
        """Sessions whose deadline `now_ms` has reached, oldest first."""
        return sorted(s.id for s in self.sessions.values() if s.expires_at_ms <= now_ms)

    def owner_of(self, session_id: int) -> str:
        session = self.sessions.get(session_id)
        return session.owner if session else ""

    # -- commands -------------------------------------------------------------------------

    def _apply_to(self, s: Session, cmd: LockCommand, index: int) -> LockResult:
        if isinstance(cmd, KeepAlive):
            s.expires_at_ms = max(s.expires_at_ms, cmd.now + s.ttl_ms)
            return KeptAlive(s.ttl_ms)
        if isinstance(cmd, Acquire):
            return self._acquire(s, cmd, index)
        if isinstance(cmd, Cancel):
            return self._cancel(s, cmd.name, index)
        if isinstance(cmd, Release):
            return self._release(s, cmd, index)
        if isinstance(cmd, Close):
            released = tuple(sorted(s.held))
            self._end([s], "released", index, cmd.wall_ms)
            return Closed(released)
        raise AssertionError(f"unknown command {cmd.TAG!r}: a replica is out of date")

    def _create(self, index: int, cmd: Create) -> SessionCreated:
        self.sessions[index] = Session(index, cmd.owner, cmd.ttl_ms, cmd.now + cmd.ttl_ms)
        return SessionCreated(index)

    def _lead(self) -> InOffice:
        for s in self.sessions.values():
            s.expires_at_ms = max(s.expires_at_ms, self.clock_ms + s.ttl_ms)
        return InOffice(self.clock_ms)

    def _acquire(self, s: Session, cmd: Acquire, index: int) -> Acquired:
        name = cmd.name
        lock = self.locks.setdefault(name, Lock())
        if lock.holder == s.id:
            return Acquired(True, lock.token, s.id)
        if not lock.holder:
            self._grant(name, lock, s, index, cmd.wall_ms)
            return Acquired(True, lock.token, s.id)
        if not cmd.wait:
            return Acquired(False, 0, lock.holder)
        if name not in s.waiting:
            lock.waiters.append(s.id)
            s.waiting.add(name)
        return Acquired(False, 0, lock.holder, queued=True)

    def _cancel(self, s: Session, name: str, index: int) -> Cancelled:
        lock = self.locks.get(name)
        if lock is not None and lock.holder == s.id:
            return Cancelled(True, lock.token)
        if lock is not None and name in s.waiting:
            lock.waiters.remove(s.id)
            s.waiting.discard(name)
            self._emit(Change("dequeued", name, s.id, s.owner, 0, index))
        return Cancelled(False, 0)

    def _release(self, s: Session, cmd: Release, index: int) -> Released | Refusal:
        lock = self.locks.get(cmd.name)
        if lock is None or lock.holder != s.id:
            return results.not_holder(s.id, cmd.name, lock.holder if lock else 0)
        self._free(cmd.name, lock, "released", index, cmd.wall_ms)
        return Released(lock.holder, lock.token)

    def _expire(self, cmd: Expire, index: int) -> Expired:
        due = [
            self.sessions[i]
            for i in cmd.sessions
            if i in self.sessions and self.sessions[i].expires_at_ms <= cmd.now
        ]
        self._end(due, "expired", index, cmd.wall_ms)
        return Expired(tuple(s.id for s in due))

    # -- mechanics ------------------------------------------------------------------------

    def _end(self, ending: list[Session], kind: ChangeKind, index: int, wall_ms: int) -> None:
        """End sessions: out of every queue first, so no lock is granted to one of them,
        then release what they held, each to its first surviving waiter."""
        for s in ending:
            for name in sorted(s.waiting):
                self.locks[name].waiters.remove(s.id)
                self._emit(Change("dequeued", name, s.id, s.owner, 0, index))
            s.waiting.clear()
            del self.sessions[s.id]
            self._remember_ended(s.id)
        for s in ending:
            for name in sorted(s.held):
                self._free(name, self.locks[name], kind, index, wall_ms)

    def _free(self, name: str, lock: Lock, kind: ChangeKind, index: int, wall_ms: int) -> None:
        old = self.sessions.get(lock.holder)
        if old is not None:
            old.held.discard(name)
        previous, token = lock.holder, lock.token
        lock.holder, lock.token, lock.since_wall_ms = 0, 0, 0
        owner = old.owner if old else ""
        self._emit(Change(kind, name, previous, owner, token, index))
        if lock.waiters:
            nxt = self.sessions[lock.waiters.popleft()]
            nxt.waiting.discard(name)
            self._grant(name, lock, nxt, index, wall_ms)
        else:
            del self.locks[name]

    def _grant(self, name: str, lock: Lock, s: Session, index: int, wall_ms: int) -> None:
        lock.holder, lock.token, lock.since_wall_ms = s.id, index, wall_ms
        s.held.add(name)
        self._emit(Change("acquired", name, s.id, s.owner, index, index))

    def _missing(self, session_id: int) -> Refusal:
        if session_id in self.ended:
            return results.session_expired(session_id)
        return results.unknown_session(session_id)

    def _remember_ended(self, session_id: int) -> None:
        self.ended[session_id] = None
        if len(self.ended) > ENDED_MEMORY:
            del self.ended[next(iter(self.ended))]

    def _emit(self, change: Change) -> None:
        for listener in list(self.listeners):
            listener(change)
