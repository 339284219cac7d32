"""The lock state machine alone: random sequences of every command never give a lock two
holders, never a token that does not increase, and a replica restored from a snapshot
taken at any point goes on exactly like the original."""

from __future__ import annotations

from typing import Any

from faultlab.errors.v1 import errors_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.lock import commands
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
from services.lock.results import Acquired, LockResult, Released, SessionCreated
from services.lock.state import Change, LockState
from services.replicated.refusal import Refusal

NAMES = ("a", "b", "c")
SESSIONS = 4


def op_strategy() -> st.SearchStrategy[tuple[Any, ...]]:
    session = st.integers(0, SESSIONS - 1)  # a slot; slot -> the id created for it
    name = st.sampled_from(NAMES)
    return st.one_of(
        st.tuples(st.just("create"), session, st.integers(500, 3000)),
        st.tuples(st.just("keepalive"), session),
        st.tuples(st.just("acquire"), session, name, st.booleans()),
        st.tuples(st.just("release"), session, name),
        st.tuples(st.just("cancel"), session, name),
        st.tuples(st.just("close"), session),
        st.tuples(st.just("lead")),  # a leader change
        st.tuples(st.just("advance"), st.integers(0, 2000)),  # time passes, the leader expires
        st.tuples(st.just("retry")),  # the last command again, as a client retry would
    )


class Driver:
    """Feeds commands to a LockState as the Raft log would, one index each."""

    def __init__(self) -> None:
        self.state = LockState()
        self.index = 0
        self.now = 0
        self.slots: dict[int, int] = {}
        self.changes: list[Change] = []
        self.state.listeners.add(self.changes.append)
        self.log: list[tuple[int, bytes]] = []  # (index, command), as the Raft log holds
        self.seq = 0

    def apply(self, cmd: LockCommand) -> LockResult:
        return self.apply_data(commands.encode(cmd))

    def apply_data(self, data: bytes) -> LockResult:
        self.index += 1
        self.log.append((self.index, data))
        return self.state.apply(self.index, data)

    def step(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "create":
            result = self.apply(Create(op[2], f"s{op[1]}", self.now))
            assert isinstance(result, SessionCreated)
            self.slots[op[1]] = result.session
        elif kind == "lead":
            self.apply(Lead())
        elif kind == "advance":
            self.now += op[1]
            due = self.state.due(self.now)
            if due:
                self.apply(Expire(tuple(due), self.now, 0))
        elif kind == "retry":
            if self.log:
                self.apply_data(self.log[-1][1])
        else:
            self.apply(self.on_session(op))

    def on_session(self, op: tuple[Any, ...]) -> LockCommand:
        kind, sid = op[0], self.slots.get(op[1], 99_999)  # never created: unknown session
        if kind == "keepalive":
            return KeepAlive(sid, self.now)
        self.seq += 1
        if kind == "acquire":
            return Acquire(sid, op[2], op[3], 0, seq=self.seq)
        if kind == "release":
            return Release(sid, op[2], 0, seq=self.seq)
        if kind == "cancel":
            return Cancel(sid, op[2], 0, seq=self.seq)
        assert kind == "close", kind
        return Close(sid, 0, seq=self.seq)


def check_consistent(state: LockState) -> None:
    for name, lock in state.locks.items():
        assert lock.holder or lock.waiters, f"{name}: an empty lock is kept"
        if lock.holder:
            assert name in state.sessions[lock.holder].held
            assert lock.holder not in lock.waiters, f"{name}: the holder also waits"
        assert len(set(lock.waiters)) == len(lock.waiters), f"{name}: a session queued twice"
        for waiter in lock.waiters:
            assert name in state.sessions[waiter].waiting
    for s in state.sessions.values():
        for name in s.held:
            assert state.locks[name].holder == s.id, f"{s.id} thinks it holds {name}"
        assert s.id not in state.ended


def check_history(changes: list[Change]) -> None:
    """Per lock: grants alternate with releases, and tokens strictly increase."""
    holder: dict[str, int] = {}
    last_token: dict[str, int] = {}
    for c in changes:
        if c.kind == "acquired":
            assert c.name not in holder, f"{c.name} granted to {c.session} while {holder} holds"
            assert c.token > last_token.get(c.name, 0), f"{c.name}: token {c.token} not above"
            holder[c.name] = c.session
            last_token[c.name] = c.token
        elif c.kind in ("released", "expired"):
            assert holder.pop(c.name) == c.session


@settings(max_examples=300, deadline=None)
@given(st.lists(op_strategy(), max_size=80))
def test_never_two_holders_and_tokens_always_increase(ops: list[tuple[Any, ...]]) -> None:
    driver = Driver()
    for op in ops:
        driver.step(op)
        check_consistent(driver.state)
    check_history(driver.changes)


@settings(max_examples=100, deadline=None)
@given(st.lists(op_strategy(), max_size=60), st.integers(0, 60))
def test_a_replica_restored_from_a_snapshot_goes_on_identically(
    ops: list[tuple[Any, ...]], cut: int
) -> None:
    driver = Driver()
    for op in ops:
        driver.step(op)
    log = driver.log
    cut = min(cut, len(log))
    original = LockState()
    for index, data in log[:cut]:
        original.apply(index, data)
    replica = LockState()
    replica.restore(original.snapshot())
    for index, data in log[cut:]:
        assert replica.apply(index, data) == original.apply(index, data)
    assert replica.snapshot() == original.snapshot() == driver.state.snapshot()


def test_expiry_of_holder_and_first_waiter_in_one_command_grants_once() -> None:
    """A holder and its first waiter expiring together: the lock goes to the second
    waiter, once, not to the first waiter and then again."""
    d = Driver()
    for slot, ttl in ((0, 1000), (1, 1000), (2, 5000)):
        d.step(("create", slot, ttl))
    d.step(("acquire", 0, "a", True))
    d.step(("acquire", 1, "a", True))
    d.step(("acquire", 2, "a", True))
    d.step(("advance", 1500))
    grants = [c for c in d.changes if c.kind == "acquired"]
    assert [g.session for g in grants] == [d.slots[0], d.slots[2]]
    assert d.state.locks["a"].holder == d.slots[2]
    check_history(d.changes)


def test_a_new_leader_extends_every_session_before_expiring_any() -> None:
    d = Driver()
    d.step(("create", 0, 1000))
    d.step(("create", 1, 3000))
    d.step(("advance", 900))
    d.step(("keepalive", 1))  # the old leader's last word in the log: 900 ms in
    d.step(("lead",))
    assert d.state.sessions[d.slots[0]].expires_at_ms == 900 + 1000
    d.step(("advance", 500))
    assert d.slots[0] in d.state.sessions, "expired within the grace period"


def refused(result: LockResult) -> int:
    assert isinstance(result, Refusal), result
    return result.reason


def test_refusals_change_nothing() -> None:
    d = Driver()
    d.step(("create", 0, 1000))
    d.step(("create", 1, 1000))
    d.step(("acquire", 0, "a", False))
    before = d.state.snapshot()
    not_holder = d.apply(Release(d.slots[1], "a", 0))
    assert refused(not_holder) == errors_pb2.NOT_HOLDER
    assert isinstance(not_holder, Refusal) and not_holder.details == {"holder": str(d.slots[0])}
    assert refused(d.apply(Acquire(424242, "a", True, 0))) == errors_pb2.UNKNOWN_SESSION
    assert d.state.snapshot() == before
    d.step(("close", 1))
    assert refused(d.apply(KeepAlive(d.slots[1], 0))) == errors_pb2.SESSION_EXPIRED


def test_a_retried_command_is_answered_not_applied_again() -> None:
    d = Driver()
    d.step(("create", 0, 1000))
    sid = d.slots[0]
    acquire = Acquire(sid, "a", False, 0, seq=1)
    first = d.apply(acquire)
    release = Release(sid, "a", 0, seq=2)
    assert d.apply(release) == Released(0, 0)
    assert d.apply(release) == Released(0, 0)  # not NOT_HOLDER
    stale = d.apply(acquire)
    assert refused(stale) == errors_pb2.INVALID and "last, 2" in stale.message  # type: ignore[union-attr]
    assert isinstance(first, Acquired) and first.acquired and "a" not in d.state.locks
