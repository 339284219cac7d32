"""How much of the time clients got answers: ok operations per second, overall and by node."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

from chaos.history import Operation


@dataclass(frozen=True)
class Availability:
    ok: int
    fail: int
    info: int
    ok_per_s: float
    by_node: dict[str, tuple[int, int]]  # node -> (ok, not ok), for pinned operations

    def ok_share(self) -> float:
        total = self.ok + self.fail + self.info
        return self.ok / total if total else 0.0


def summarize(ops: list[Operation], duration_s: float) -> Availability:
    outcomes = Counter(op.outcome for op in ops)
    by_node: dict[str, list[int]] = {}
    for op in ops:
        if op.node:
            counts = by_node.setdefault(op.node, [0, 0])
            counts[0 if op.outcome == "ok" else 1] += 1
    return Availability(
        ok=outcomes["ok"],
        fail=outcomes["fail"],
        info=outcomes["info"],
        ok_per_s=outcomes["ok"] / duration_s if duration_s else 0.0,
        by_node={n: (c[0], c[1]) for n, c in sorted(by_node.items())},
    )


def longest_gap_s(ops: list[Operation], f: str, since_ns: int, until_ns: int) -> float:
    """The longest stretch within [since, until] in which no `f` operation completed ok:
    how long clients saw that kind of operation stall (a failover's write gap)."""
    done = sorted(op.end_ns for op in ops if op.f == f and op.outcome == "ok" and op.end_ns)
    marks = [since_ns, *(t for t in done if since_ns < t < until_ns), until_ns]
    return max(b - a for a, b in itertools.pairwise(marks)) / 1e9
