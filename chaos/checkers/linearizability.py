"""Linearizability of a history against a model: by default a key-value store of
registers with read, write and compare-and-set; chaos/checkers/lock.py brings a mutex.

Wing & Gong's search with Lowe's just-in-time linearization and memoization of (set of
linearized operations, state), as Porcupine implements it; the history is split per key
first (registers are independent, so the whole is linearizable iff every key is).

Operations (per key), on a register whose state is (value, version):
- write(v)          -> ok: the value is v, the version one higher
- read()            -> ok with [value, version]
- cas([version, v]) -> ok with true (swapped) or false (version differed)
`fail` operations certainly did not happen and are dropped. `info` operations may or may
not have happened: they stay open to the end of time and may be linearized anywhere after
their invocation, or, equivalently for every other observer, after everything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chaos.history import Operation

WINDOW_EARLIER_WRITES = 3
State = tuple[Any, int]  # (value, version); (None, 0) before the first write
INITIAL: State = (None, 0)


@dataclass(frozen=True)
class Model:
    """A sequential specification: the initial state, and `step(state, op)`: the states
    `op` may leave it in if it can take effect there ([] if it cannot)."""

    initial: Hashable
    step: Callable[[Any, Operation], list[Any]]


def step(state: State, op: Operation) -> list[State]:
    """The states `op` may leave the register in, if it can take effect in `state`."""
    value, version = state
    known = op.outcome == "ok"
    if op.f == "write":
        return [(op.input, version + 1)]
    if op.f == "read":
        if not known:
            return [state]
        return [state] if list(op.output) == [value, version] else []
    if op.f == "cas":
        expected, new = op.input
        swapped = (new, version + 1)
        if not known:
            return [swapped, state] if expected == version else [state]
        if op.output:
            return [swapped] if expected == version else []
        return [state] if expected != version else []
    raise ValueError(f"unknown operation {op.f!r}")


@dataclass
class KeyResult:
    key: str
    valid: bool
    operations: int
    # When invalid: the operations around the point the search could not get past.
    window: list[Operation] = field(default_factory=list)
    linearized_prefix: int = 0


@dataclass
class Result:
    valid: bool
    keys: list[KeyResult]

    @property
    def failures(self) -> list[KeyResult]:
        return [k for k in self.keys if not k.valid]


def check(operations: Iterable[Operation], model: Model | None = None) -> Result:
    by_key: dict[str, list[Operation]] = {}
    for op in operations:
        if op.outcome != "fail":
            by_key.setdefault(op.key, []).append(op)
    results = [check_key(key, ops, model or REGISTER) for key, ops in sorted(by_key.items())]
    return Result(all(r.valid for r in results), results)


@dataclass
class _Node:
    """An entry of the call/return list: a doubly linked list, as in Lowe's algorithm."""

    op_id: int
    is_call: bool
    time: float
    prev: _Node | None = None
    next: _Node | None = None
    match: _Node | None = None  # the call's return entry


def check_key(key: str, ops: list[Operation], model: Model | None = None) -> KeyResult:
    search = _Search(ops, model or REGISTER)
    if search.run():
        return KeyResult(key, True, len(ops), linearized_prefix=len(ops))
    return _invalid(key, ops, search.deepest, search.stuck_op)


@dataclass
class _Frame:
    call: _Node
    state_before: Any
    other_outcomes: list[Any]


class _Search:
    """Depth-first search for a linearization (Lowe's just-in-time variant)."""

    def __init__(self, ops: list[Operation], model: Model) -> None:
        self.ops = ops
        self.model = model
        self.head = _build_list(ops)
        self.linearized = 0  # bit i set: operation i is linearized
        self.state: Any = model.initial
        self.cache: set[tuple[int, Any]] = set()
        self.stack: list[_Frame] = []
        self.deepest = 0
        self.stuck_op = -1  # the first operation the deepest attempt could not place

    def run(self) -> bool:
        entry = self.head.next
        while self.head.next is not None:
            assert entry is not None
            if entry.is_call:
                outcomes = self._fresh(entry, self.model.step(self.state, self.ops[entry.op_id]))
                if outcomes:
                    self._linearize(entry, self.state, outcomes)
                    entry = self.head.next
                else:
                    entry = entry.next
                continue
            # Reached an operation's return before linearizing it: a dead end.
            if len(self.stack) >= self.deepest:
                self.deepest, self.stuck_op = len(self.stack), entry.op_id
            resumed = self._backtrack()
            if resumed is None:
                return False
            entry = resumed
        return True

    def _fresh(self, call: _Node, outcomes: list[Any]) -> list[Any]:
        bits = self.linearized | 1 << call.op_id
        return [s for s in outcomes if (bits, s) not in self.cache]

    def _linearize(self, call: _Node, before: Any, outcomes: list[Any]) -> None:
        self.stack.append(_Frame(call, before, outcomes[1:]))
        self.linearized |= 1 << call.op_id
        self.state = outcomes[0]
        self.cache.add((self.linearized, self.state))
        assert call.match is not None
        _unlink(call)
        _unlink(call.match)

    def _backtrack(self) -> _Node | None:
        """Undo the latest choice; try its next outcome, or resume after its call."""
        if not self.stack:
            return None
        frame = self.stack.pop()
        call = frame.call
        self.linearized &= ~(1 << call.op_id)
        self.state = frame.state_before
        assert call.match is not None
        _relink(call.match)
        _relink(call)
        others = self._fresh(call, frame.other_outcomes)
        if others:
            self._linearize(call, frame.state_before, others)
            return self.head.next
        return call.next


REGISTER = Model(INITIAL, step)


def _build_list(ops: list[Operation]) -> _Node:
    entries = []
    for i, op in enumerate(ops):
        call = _Node(i, True, op.start_ns)
        ret = _Node(i, False, math.inf if op.end_ns is None else op.end_ns)
        call.match = ret
        entries += [call, ret]
    # Calls before returns at equal times: touching operations count as concurrent.
    entries.sort(key=lambda n: (n.time, not n.is_call))
    head = _Node(-1, False, -math.inf)
    prev = head
    for n in entries:
        prev.next, n.prev = n, prev
        prev = n
    return head


def _unlink(n: _Node) -> None:
    assert n.prev is not None
    n.prev.next = n.next
    if n.next is not None:
        n.next.prev = n.prev


def _relink(n: _Node) -> None:
    assert n.prev is not None
    n.prev.next = n
    if n.next is not None:
        n.next.prev = n


def _invalid(key: str, ops: list[Operation], deepest: int, stuck_op: int) -> KeyResult:
    """The window: the operation the search could not linearize, every operation that
    overlaps it in time, and the last writes that completed before it began (what it
    should have seen), in order of invocation."""
    anchor = ops[stuck_op] if 0 <= stuck_op < len(ops) else ops[0]
    end = anchor.end_ns if anchor.end_ns is not None else math.inf
    overlapping = [
        op
        for op in ops
        if op.start_ns <= end and (op.end_ns is None or op.end_ns >= anchor.start_ns)
    ]
    earlier_writes = sorted(
        (
            op
            for op in ops
            if op.f != "read"
            and op.outcome == "ok"
            and op.end_ns is not None
            and op.end_ns < anchor.start_ns
        ),
        key=lambda op: op.end_ns or 0,
    )[-WINDOW_EARLIER_WRITES:]
    window = sorted(
        {id(o): o for o in earlier_writes + overlapping}.values(), key=lambda op: op.start_ns
    )
    return KeyResult(key, False, len(ops), window=window, linearized_prefix=deepest)
