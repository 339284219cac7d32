"""The page's event log: every action asked for, and what came of it, newest last."""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import Any

KEPT = 500


class EventLog:
    def __init__(self) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self._ids = itertools.count(1)

    def add(self, kind: str, text: str, ok: bool = True) -> dict[str, Any]:
        event = {"id": next(self._ids), "time_s": time.time(), "kind": kind, "text": text, "ok": ok}
        self._events.append(event)
        return event

    def since(self, after_id: int = 0) -> list[dict[str, Any]]:
        return [e for e in self._events if e["id"] > after_id]
