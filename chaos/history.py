"""A history: what clients asked for and what they saw, and when faults began and ended.

Jepsen's shape: every client operation is an `invoke` followed by exactly one completion:
`ok` (it happened), `fail` (it certainly did not happen) or `info` (unknown: a timeout, a
lost answer). Faults are recorded in the same stream by the process "nemesis". Times are
monotonic nanoseconds since the run began. Stored as one JSON object per line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

OpType = Literal["invoke", "ok", "fail", "info"]
NEMESIS = "nemesis"


@dataclass(frozen=True)
class Event:
    process: str
    type: OpType
    f: str  # read | write | cas | a fault name
    key: str | None = None
    value: Any = None
    time_ns: int = 0
    node: str | None = None  # the node it was pinned to; on completion, the one that served it
    error: str | None = None  # the gRPC status code of a failure
    reason: str | None = None  # its faultlab.errors.v1.Reason, when the server gave one

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def from_json(cls, line: str) -> Event:
        return cls(**json.loads(line))


@dataclass
class History:
    events: list[Event] = field(default_factory=list)
    started_ns: int = field(default_factory=time.monotonic_ns)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now_ns(self) -> int:
        return time.monotonic_ns() - self.started_ns

    def record(
        self, process: str, type: OpType, f: str, at_ns: int | None = None, **fields: Any
    ) -> Event:
        """Append an event that happened now, or at monotonic time `at_ns` (an event seen
        by another process on this machine: CLOCK_MONOTONIC is shared)."""
        time_ns = self.now_ns() if at_ns is None else at_ns - self.started_ns
        event = Event(process, type, f, time_ns=time_ns, **fields)
        with self._lock:
            self.events.append(event)
        return event

    def save(self, path: Path) -> None:
        path.write_text("".join(e.to_json() + "\n" for e in self.events))

    @classmethod
    def load(cls, path: Path) -> History:
        lines = path.read_text().splitlines()
        return cls(events=[Event.from_json(line) for line in lines if line])

    def acknowledged_since(self, f: str, since_ns: int, process_prefix: str) -> bool:
        """Whether an `f` of a process named `process_prefix`... was acknowledged after
        `since_ns`: what an aimed fault waits for before it goes on."""
        return any(
            e.type == "ok"
            and e.f == f
            and e.time_ns > since_ns
            and e.process.startswith(process_prefix)
            for e in self.events
        )

    def client_events(self) -> list[Event]:
        return [e for e in self.events if e.process != NEMESIS]

    def fault_windows(self) -> list[tuple[str, float, float]]:
        """(fault, start s, end s) for each fault the nemesis started and stopped."""
        open_: dict[str, int] = {}
        windows = []
        for e in self.events:
            if e.process != NEMESIS:
                continue
            if e.type == "invoke":
                open_[e.f] = e.time_ns
            elif e.f in open_:
                windows.append((e.f, open_.pop(e.f) / 1e9, e.time_ns / 1e9))
        end = max((e.time_ns for e in self.events), default=0)
        windows += [(f, t / 1e9, end / 1e9) for f, t in open_.items()]
        return windows


@dataclass(frozen=True)
class Operation:
    """An invoke paired with its completion. `end_ns` is None when the outcome is unknown."""

    process: str
    f: str
    key: str
    input: Any
    output: Any
    outcome: OpType  # ok | fail | info
    start_ns: int
    end_ns: int | None
    node: str | None = None


def pair(events: Iterable[Event]) -> Iterator[Operation]:
    """Operations from client events; an invoke never completed counts as info."""
    pending: dict[str, Event] = {}
    for e in events:
        if e.process == NEMESIS:
            continue
        if e.type == "invoke":
            assert e.process not in pending, f"{e.process} invoked twice without completing"
            pending[e.process] = e
            continue
        inv = pending.pop(e.process)
        yield Operation(
            inv.process,
            inv.f,
            inv.key or "",
            inv.value,
            e.value,
            e.type,
            inv.time_ns,
            e.time_ns if e.type != "info" else None,
            e.node or inv.node,
        )
    for inv in pending.values():
        yield Operation(
            inv.process, inv.f, inv.key or "", inv.value, None, "info", inv.time_ns, None, inv.node
        )
