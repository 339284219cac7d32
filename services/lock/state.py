"""The lock state machine: sessions, locks and their FIFO queues, deterministic on every
replica because everything it knows of time arrives inside commands.

Commands (msgpack maps, see commands.py), with what apply returns:

    create     {ttl_ms, owner, now}                 {"session": id}   (id: the entry's index)
    keepalive  {session, now}                       {"ttl_ms"}
    close      {session, wall_ms}                   {"released": [name, ...]}
    acquire    {name, session, wait, wall_ms}       {"acquired", "token", "holder"}
                                                    (wait and held by another: "queued")
    cancel     {name, session, wall_ms}             {"acquired", "token"}  (leave the queue)
    release    {name, session, wall_ms}             {"next_session", "next_token"}
    lead       {}                                   {"clock": ms}
    expire     {sessions, now, wall_ms}             {"expired": [id, ...]}

A refusal is {"error": unknown_session | session_expired | not_holder | stale_seq, ...}
and changes nothing. acquire, cancel, release and close may carry "seq": a retry with
the session's last seq gets the first answer without applying again (Raft thesis §6.3).

Time. `now` is the leader's session clock (leader_clock.py); `clock_ms` is the highest seen.
A session expires only through an `expire` command whose `now` is past its deadline, so
every replica releases its locks at the same index. `lead` is a new leader's first
command: it extends every session to at least one TTL past the log's clock before that
leader may expire any (Chubby's grace period), so an election does not cost a healthy
session its locks.

The fencing token of a grant is the index of the command that granted it, so tokens
strictly increase per lock across leaders and restarts. One command grants a lock at most
once: an `expire` first takes every expiring session out of every queue, then releases
what they held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgpack

from services.lock import commands

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
    last_result: dict[str, Any] | None = None


@dataclass
class Lock:
    holder: int = 0  # session id; 0: free
    token: int = 0
    since_wall_ms: int = 0
    waiters: deque[int] = field(default_factory=deque)


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

    def apply(self, index: int, command: bytes) -> dict[str, Any]:
        cmd = commands.decode(command)
        self.clock_ms = max(self.clock_ms, cmd.get("now", 0))
        op = cmd["op"]
        if op == "create":
            return self._create(index, cmd["ttl_ms"], cmd["owner"], cmd["now"])
        if op == "lead":
            return self._lead()
        if op == "expire":
            return self._expire(cmd["sessions"], cmd["now"], index, cmd["wall_ms"])
        session = self.sessions.get(cmd["session"])
        if session is None:
            return self._missing(cmd["session"])
        seq = cmd.get("seq", 0)
        if seq and seq <= session.last_seq:
            if seq == session.last_seq and session.last_result is not None:
                return session.last_result  # a retry: the first answer, nothing applied again
            return {"error": "stale_seq", "last_seq": session.last_seq}
        result = self._apply_to(session, op, cmd, index)
        if seq:
            session.last_seq, session.last_result = seq, result
        return result

    def snapshot(self) -> bytes:
        state = {
            "clock_ms": self.clock_ms,
            "ended": list(self.ended),
            "sessions": [
                [
                    s.id,
                    s.owner,
                    s.ttl_ms,
                    s.expires_at_ms,
                    sorted(s.held),
                    sorted(s.waiting),
                    s.last_seq,
                    s.last_result,
                ]
                for s in self.sessions.values()
            ],
            "locks": {
                n: [lk.holder, lk.token, lk.since_wall_ms, list(lk.waiters)]
                for n, lk in self.locks.items()
            },
        }
        out: bytes = msgpack.packb(state, use_bin_type=True)
        return out

    def restore(self, data: bytes) -> None:
        state = msgpack.unpackb(data, raw=False, strict_map_key=False)
        self.clock_ms = state["clock_ms"]
        self.ended = dict.fromkeys(state["ended"])
        self.sessions = {}
        for sid, owner, ttl, expires, held, waiting, last_seq, last_result in state["sessions"]:
            self.sessions[sid] = Session(
                sid, owner, ttl, expires, set(held), set(waiting), last_seq, last_result
            )
        self.locks = {
            name: Lock(holder, token, since, deque(waiters))
            for name, (holder, token, since, waiters) in state["locks"].items()
        }

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

    def _apply_to(self, s: Session, op: str, cmd: dict[str, Any], index: int) -> dict[str, Any]:
        if op == "keepalive":
            s.expires_at_ms = max(s.expires_at_ms, cmd["now"] + s.ttl_ms)
            return {"ttl_ms": s.ttl_ms}
        if op == "acquire":
            return self._acquire(s, cmd["name"], cmd["wait"], index, cmd["wall_ms"])
        if op == "cancel":
            return self._cancel(s, cmd["name"], index)
        if op == "release":
            return self._release(s, cmd["name"], index, cmd["wall_ms"])
        if op == "close":
            released = sorted(s.held)
            self._end([s], "released", index, cmd["wall_ms"])
            return {"released": released}
        raise AssertionError(f"unknown command {op!r}: a replica is out of date")

    def _create(self, index: int, ttl_ms: int, owner: str, now: int) -> dict[str, Any]:
        self.sessions[index] = Session(index, owner, ttl_ms, now + ttl_ms)
        return {"session": index}

    def _lead(self) -> dict[str, Any]:
        for s in self.sessions.values():
            s.expires_at_ms = max(s.expires_at_ms, self.clock_ms + s.ttl_ms)
        return {"clock": self.clock_ms}

    def _acquire(
        self, s: Session, name: str, wait: bool, index: int, wall_ms: int
    ) -> dict[str, Any]:
        lock = self.locks.setdefault(name, Lock())
        if lock.holder == s.id:
            return {"acquired": True, "token": lock.token, "holder": s.id}
        if not lock.holder:
            self._grant(name, lock, s, index, wall_ms)
            return {"acquired": True, "token": lock.token, "holder": s.id}
        if not wait:
            return {"acquired": False, "token": 0, "holder": lock.holder}
        if name not in s.waiting:
            lock.waiters.append(s.id)
            s.waiting.add(name)
        return {"acquired": False, "token": 0, "holder": lock.holder, "queued": True}

    def _cancel(self, s: Session, name: str, index: int) -> dict[str, Any]:
        lock = self.locks.get(name)
        if lock is not None and lock.holder == s.id:
            return {"acquired": True, "token": lock.token}
        if lock is not None and name in s.waiting:
            lock.waiters.remove(s.id)
            s.waiting.discard(name)
            self._emit(Change("dequeued", name, s.id, s.owner, 0, index))
        return {"acquired": False, "token": 0}

    def _release(self, s: Session, name: str, index: int, wall_ms: int) -> dict[str, Any]:
        lock = self.locks.get(name)
        if lock is None or lock.holder != s.id:
            return {"error": "not_holder", "holder": lock.holder if lock else 0}
        self._free(name, lock, "released", index, wall_ms)
        return {"next_session": lock.holder, "next_token": lock.token}

    def _expire(
        self, session_ids: Iterable[int], now: int, index: int, wall_ms: int
    ) -> dict[str, Any]:
        due = [
            self.sessions[i]
            for i in session_ids
            if i in self.sessions and self.sessions[i].expires_at_ms <= now
        ]
        self._end(due, "expired", index, wall_ms)
        return {"expired": [s.id for s in due]}

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

    def _missing(self, session_id: int) -> dict[str, Any]:
        if session_id in self.ended:
            return {"error": "session_expired"}
        return {"error": "unknown_session"}

    def _remember_ended(self, session_id: int) -> None:
        self.ended[session_id] = None
        if len(self.ended) > ENDED_MEMORY:
            del self.ended[next(iter(self.ended))]

    def _emit(self, change: Change) -> None:
        for listener in list(self.listeners):
            listener(change)
