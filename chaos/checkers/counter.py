"""The counter checker: was every acknowledged increment of a counter kept?

Clients increment a counter under a lock: read n, write n+1. Under mutual exclusion each
acknowledged write wrote a value no other acknowledged write wrote, and the final value
is at least the number of acknowledged writes (an indefinite write may have added one
more, never fewer). Two acknowledged writes of the same value both read the same n: one
increment erased the other. A final value below the number of acknowledged writes is the
count of increments lost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from chaos.history import Operation


@dataclass(frozen=True)
class CounterResult:
    acknowledged: int
    final: int
    lost: int  # acknowledged increments the final value does not count
    duplicates: list[int] = field(default_factory=list)  # values written by two acked writes

    @property
    def safe(self) -> bool:
        return self.lost == 0 and not self.duplicates


def check(operations: list[Operation], final: int) -> CounterResult:
    written = [int(op.output) for op in operations if op.f == "write" and op.outcome == "ok"]
    twice = sorted(value for value, times in Counter(written).items() if times > 1)
    return CounterResult(len(written), final, max(0, len(written) - final), twice)
