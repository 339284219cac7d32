"""Consumer-group offsets: a group's committed offset is a register its members write, and
it must only move forward (Kafka's consumer groups; the zombie-consumer experiment).

Operations:
    commit  input: [offset, generation]   ok (accepted) | fail (refused, e.g. ILLEGAL_GENERATION)
    poll    output: [[offset, value], ...]

What it finds:
- regression: an accepted commit below one that was accepted before it began (real-time
  order): the group will read those records again (re-delivery);
- skip: an accepted commit past every offset any member had read: records nobody
  processed are marked done;
- redelivered: records a member polled after another member (or itself) already had,
  the at-least-once cost; a safe group keeps it to the batch in flight at a rebalance.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from chaos.history import Operation


@dataclass
class CommitResult:
    accepted: int = 0
    refused: int = 0
    regressions: list[tuple[str, int, int, str]] = field(default_factory=list)
    skips: list[tuple[str, int]] = field(default_factory=list)
    redelivered: int = 0

    @property
    def valid(self) -> bool:
        return not (self.regressions or self.skips)

    def figures(self) -> dict[str, float]:
        return {
            "accepted_commits": self.accepted,
            "refused_commits": self.refused,
            "regressions": len(self.regressions),
            "skips": len(self.skips),
            "redelivered": self.redelivered,
        }


def check(operations: list[Operation]) -> CommitResult:
    result = CommitResult()
    commits = [op for op in operations if op.f == "commit"]
    accepted = sorted(
        (op for op in commits if op.outcome == "ok" and op.end_ns is not None),
        key=lambda op: op.start_ns,
    )
    result.accepted = len(accepted)
    result.refused = sum(1 for op in commits if op.outcome == "fail")
    polls = [op for op in operations if op.f == "poll" and op.outcome == "ok"]

    for later in accepted:
        earlier = [
            op
            for op in accepted
            if op.key == later.key and op.end_ns is not None and op.end_ns < later.start_ns
        ]
        highest = max(earlier, key=lambda op: op.input[0], default=None)
        if highest is not None and later.input[0] < highest.input[0]:
            result.regressions.append((later.key, highest.input[0], later.input[0], later.process))

    read_before: dict[str, list[tuple[int, int]]] = defaultdict(list)  # key -> (end, offset)
    deliveries: Counter[tuple[str, int]] = Counter()
    for op in polls:
        for offset, _ in op.output:
            deliveries[(op.key, offset)] += 1
            if op.end_ns is not None:
                read_before[op.key].append((op.end_ns, offset))
    result.redelivered = sum(n - 1 for n in deliveries.values())
    for op in accepted:
        offset = op.input[0]
        read = any(o >= offset - 1 and end <= (op.end_ns or 0) for end, o in read_before[op.key])
        if offset > 0 and not read:
            result.skips.append((op.key, offset))
    return result
