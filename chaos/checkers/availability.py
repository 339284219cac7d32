"""How much of the time clients got answers: ok operations per second, overall and by node."""

from __future__ import annotations

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
        ok=outcomes["ok"], fail=outcomes["fail"], info=outcomes["info"],
        ok_per_s=outcomes["ok"] / duration_s if duration_s else 0.0,
        by_node={n: (c[0], c[1]) for n, c in sorted(by_node.items())},
    )  # fmt: skip
