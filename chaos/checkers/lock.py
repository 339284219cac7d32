"""The lock checker: is the lock service a mutex, and was the state it protects safe?

Four verdicts, from the history chaos/locking.py records:

1. mutex: the acquire / release history, with the expiries the service announced, is
   linearizable against a mutex (an acquire takes a free lock, a release or an expiry
   frees the holder's). Indefinite operations stay open, as always.
2. tokens: every grant's token is unique to it and grows in grant order (a grant that
   completed before another began has the lower token).
3. fencing: the protected store never accepted a write whose token is below one it had
   already accepted (in the order of the store's own revisions).
4. lost updates: every element whose add was acknowledged is in the final set.

Separately it reports where two sessions *believed* they held the lock at once (from a
grant's answer to that session's next release): with leases that happens whenever a
holder pauses past its TTL, and it is harmless exactly when (3) and (4) hold. It is what
fencing exists for, so it is reported, not judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaos.checkers import linearizability
from chaos.history import Operation

FREE = 0


def mutex_step(holder: int, op: Operation) -> list[int]:
    """The mutex, keyed by lock name; its state is the holding session (0: free)."""
    session = op.input
    known = op.outcome == "ok"
    if op.f == "acquire":
        if holder in (FREE, session):  # re-acquiring one's own lock is answered, not refused
            return [session] if known or holder == session else [session, holder]
        return [] if known else [holder]
    if op.f in ("release", "expire"):
        if holder == session:
            return [FREE] if known else [FREE, holder]
        return [] if known else [holder]
    raise ValueError(f"not a lock operation: {op.f!r}")


MUTEX = linearizability.Model(FREE, mutex_step)
LOCK_OPS = ("acquire", "release", "expire")


@dataclass(frozen=True)
class Belief:
    process: str
    session: int
    token: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Overlap:
    first: Belief
    second: Belief

    @property
    def seconds(self) -> float:
        return min(self.first.end_s, self.second.end_s) - max(
            self.first.start_s, self.second.start_s
        )


@dataclass(frozen=True)
class StaleWrite:
    """A write the store accepted with a token below one it had already accepted."""

    key: str
    process: str
    revision: int
    token: int
    highest_before: int


@dataclass
class LockResult:
    mutex: linearizability.Result
    token_violations: list[str] = field(default_factory=list)
    stale_writes: list[StaleWrite] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    acknowledged: int = 0
    overlaps: list[Overlap] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        return (
            self.mutex.valid
            and not self.token_violations
            and not self.stale_writes
            and not self.lost
        )


def check(operations: list[Operation], final: dict[str, list[str]]) -> LockResult:
    """`final`: each protected key's members, read after the run."""
    lock_ops = [op for op in operations if op.f in LOCK_OPS]
    adds = [op for op in operations if op.f == "add"]
    acked = [op.input[0] for op in adds if op.outcome == "ok"]
    present = {m for members in final.values() for m in members}
    return LockResult(
        mutex=linearizability.check(lock_ops, MUTEX),
        token_violations=token_violations(lock_ops),
        stale_writes=stale_writes(adds),
        lost=[element for element in acked if element not in present],
        acknowledged=len(acked),
        overlaps=overlaps(operations),
    )


def token_violations(ops: list[Operation]) -> list[str]:
    grants = sorted(
        (op for op in ops if op.f == "acquire" and op.outcome == "ok"),
        key=lambda op: op.start_ns,
    )
    found = []
    for i, a in enumerate(grants):
        for b in grants[i + 1 :]:
            if a.output == b.output and a.input != b.input:
                found.append(f"token {a.output} granted to sessions {a.input} and {b.input}")
            elif a.end_ns is not None and a.end_ns < b.start_ns and b.output < a.output:
                found.append(
                    f"{b.process} was granted token {b.output} after {a.process} had "
                    f"token {a.output}"
                )
    return found


def stale_writes(adds: list[Operation]) -> list[StaleWrite]:
    accepted = sorted((op for op in adds if op.outcome == "ok"), key=lambda op: (op.key, op.output))
    found: list[StaleWrite] = []
    highest: dict[str, int] = {}
    for op in accepted:
        token = op.input[1]
        if token < highest.get(op.key, 0):
            found.append(StaleWrite(op.key, op.process, op.output, token, highest[op.key]))
        highest[op.key] = max(highest.get(op.key, 0), token)
    return found


def overlaps(operations: list[Operation]) -> list[Overlap]:
    beliefs = _beliefs(operations)
    found = []
    for i, a in enumerate(beliefs):
        for b in beliefs[i + 1 :]:
            if a.session != b.session and a.start_s < b.end_s and b.start_s < a.end_s:
                found.append(Overlap(a, b))
    return found


def _beliefs(operations: list[Operation]) -> list[Belief]:
    """From each granted acquire's answer to that process's next release (or the end)."""
    end_s = max((op.end_ns or op.start_ns for op in operations), default=0) / 1e9
    beliefs = []
    ordered = sorted(operations, key=lambda op: op.start_ns)
    for i, op in enumerate(ordered):
        if op.f != "acquire" or op.outcome != "ok" or op.end_ns is None:
            continue
        release = next(
            (
                r
                for r in ordered[i + 1 :]
                if r.process == op.process and r.f == "release" and r.key == op.key
            ),
            None,
        )
        stop = release.start_ns / 1e9 if release else end_s
        beliefs.append(Belief(op.process, op.input, op.output, op.end_ns / 1e9, stop))
    return beliefs


def summary(result: LockResult) -> dict[str, Any]:
    return {
        "mutex_linearizable": result.mutex.valid,
        "token_violations": len(result.token_violations),
        "stale_writes_accepted": len(result.stale_writes),
        "acknowledged_adds": result.acknowledged,
        "lost_updates": len(result.lost),
        "overlapping_holders": len(result.overlaps),
    }
