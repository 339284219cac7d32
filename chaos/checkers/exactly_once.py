"""Exactly-once: was each non-idempotent operation applied as often as its outcome allows?

Every `append` adds a unique element; the final read of each key says how often each
element was applied. Per Jepsen's outcomes: an `ok` append must be there exactly once, an
`info` one at most once, a `fail` one never. More than once is a double apply (a retry
applied again); an acknowledged element missing is a lost write.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from chaos.history import Operation


@dataclass
class ExactlyOnceResult:
    acknowledged: int = 0
    indefinite: int = 0
    applications: int = 0  # elements found in the final values, counting repeats
    duplicated: dict[str, int] = field(default_factory=dict)  # element -> times applied
    lost: list[str] = field(default_factory=list)
    applied_despite_failure: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not (self.duplicated or self.lost or self.applied_despite_failure)

    def figures(self) -> dict[str, float]:
        return {
            "acknowledged": self.acknowledged,
            "indefinite": self.indefinite,
            "applications": self.applications,
            "applied_more_than_once": len(self.duplicated),
            "extra_applications": sum(n - 1 for n in self.duplicated.values()),
            "lost": len(self.lost),
            "applied_despite_failure": len(self.applied_despite_failure),
        }


def check(operations: list[Operation], final: dict[str, list[str]]) -> ExactlyOnceResult:
    """`final`: each key's elements, in order, read after the run."""
    counts = Counter(element for elements in final.values() for element in elements)
    appends = [op for op in operations if op.f == "append"]
    result = ExactlyOnceResult(applications=sum(counts.values()))
    for op in appends:
        element = op.input
        seen = counts.get(element, 0)
        if seen > 1:
            result.duplicated[element] = seen
        if op.outcome == "ok":
            result.acknowledged += 1
            if seen == 0:
                result.lost.append(element)
        elif op.outcome == "info":
            result.indefinite += 1
        elif seen:
            result.applied_despite_failure.append(element)
    return result
