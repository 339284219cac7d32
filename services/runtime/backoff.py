"""Capped exponential backoff with full jitter, shared by the Raft transport's reconnects
and the client SDK's retries.

"Full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter"): sleep a uniform
random time in [0, min(cap, base * 2**attempt)]. Synchronised retries are what keep a
recovering server down; spreading them over the whole window is what lets it up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_MAX_DOUBLINGS = 30  # 2**30 * any sane base is past any cap; avoids float overflow


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.05
    cap_s: float = 1.0

    def ceiling_s(self, attempt: int) -> float:
        """The longest sleep before retry number `attempt` (0-based)."""
        return float(min(self.cap_s, self.base_s * 2 ** min(attempt, _MAX_DOUBLINGS)))

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, self.ceiling_s(attempt))
