"""`CallRecord`: one call the gateway decided on, as the decision journal holds it and the
limiter checker (chaos/checkers/limiter.py) and the gateway experiments read it.

Admission fills it in as it decides, forwarding adds what the call cost (attempts, a
hedge), the journal adds the replica and its event-loop lag and writes it as one JSON line
when the call ends. Times come from the gateway's injected clocks: `t` and `end` from the
wall clock every replica shares (the windows of shared limits are on it), `decision_ms`
from the monotonic one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass
class CallRecord:
    t: float  # wall-clock seconds: when the limiter counted the call
    tenant: str
    method: str  # "faultlab.kv.v1.KV/Put", or "rls:POLICY" for Envoy's rate limit API
    end: float | None = None  # wall-clock seconds: when the call ended
    replica: str = ""
    admitted: bool = False
    refused_by: str | None = None  # the policy that refused it (a limit, "shedder", ...)
    degraded: bool = False  # decided without the shared store (its fallback policy)
    decision_ms: float | None = None  # how long admission took
    loop_lag_ms: float | None = None  # the event loop's worst lateness over the last second
    attempts: int = 0  # forwarded attempts (retries included)
    hedged: bool = False  # a stale read sent to a second replica too
    cache: str | None = None  # a cached Get: hit, stale, coalesced, miss or refresh

    def to_json(self) -> str:
        fields = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> CallRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in m.items() if k in names})
