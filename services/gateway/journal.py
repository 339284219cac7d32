"""The decision journal: one JSON line per decided call, for the limiter checker.

FAULTLAB_GATEWAY_DECISIONS=FILE turns it on (the chaos experiments do); each replica
writes its own file. A line: {"t", "end" (wall-clock seconds), "replica", "tenant",
"method", "admitted", "refused_by", "degraded", "decision_ms"}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from services.gateway.admission import Sink

JOURNAL_ENV = "FAULTLAB_GATEWAY_DECISIONS"


class DecisionJournal:
    def __init__(self, path: Path, replica: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(path, "a", buffering=64 * 1024)  # noqa: SIM115 - held open
        self._replica = replica

    def __call__(self, record: dict[str, Any]) -> None:
        record["replica"] = self._replica
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._file.close()


def journal_from_env(replica: str) -> DecisionJournal | None:
    path = os.environ.get(JOURNAL_ENV)
    return DecisionJournal(Path(path), replica) if path else None


__all__ = ["JOURNAL_ENV", "DecisionJournal", "Sink", "journal_from_env"]
