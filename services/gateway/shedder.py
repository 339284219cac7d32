"""Priority load shedding: under load, best-effort calls go first and a share of capacity
stays reserved for critical ones (Stripe's fleet-usage load shedder, by in-flight calls).

    capacity 100, critical_reserve 0.2, best_effort_share 0.5:
      best-effort admitted while fewer than 50 calls are in flight,
      default     admitted while fewer than 80,
      critical    admitted while fewer than 100.

A caller states its priority in the `x-priority` metadata (critical, default, best-effort).
Pure: the gateway calls `try_enter` before forwarding and `leave` when the call ends.
"""

from __future__ import annotations

import enum
import math

from services.gateway.config import Shedding

PRIORITY_KEY = "x-priority"


class Priority(enum.Enum):
    CRITICAL = "critical"
    DEFAULT = "default"
    BEST_EFFORT = "best-effort"


class PriorityShedder:
    def __init__(self, shedding: Shedding) -> None:
        capacity = self.capacity = shedding.capacity
        self.ceilings = {  # a priority is admitted while in flight < its ceiling
            Priority.CRITICAL: capacity,
            Priority.DEFAULT: max(1, math.floor(capacity * (1 - shedding.critical_reserve))),
            Priority.BEST_EFFORT: max(1, math.floor(capacity * shedding.best_effort_share)),
        }
        self.in_flight = 0

    def try_enter(self, priority: Priority) -> bool:
        if self.in_flight >= self.ceilings[priority]:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        if self.in_flight == 0:
            raise RuntimeError("left more calls than entered")
        self.in_flight -= 1
