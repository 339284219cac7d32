"""The decision journal: one JSON line per decided call, for the limiter checker.

FAULTLAB_GATEWAY_DECISIONS=DIR turns it on (the chaos experiments do); each replica
writes DIR/REPLICA.jsonl, a line at a time, so it can be read while the node runs
(`read_journals` reads them all). A line: {"t", "end" (wall-clock seconds), "replica", "tenant",
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
        self._file: IO[str] = open(path, "a", buffering=1)  # noqa: SIM115 - held open
        self._replica = replica

    def __call__(self, record: dict[str, Any]) -> None:
        record["replica"] = self._replica
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._file.close()


def journal_from_env(replica: str) -> DecisionJournal | None:
    folder = os.environ.get(JOURNAL_ENV)
    return DecisionJournal(Path(folder) / f"{replica}.jsonl", replica) if folder else None


def read_journals(folder: Path) -> list[dict[str, Any]]:
    """Every replica's records (a line cut short by a kill is skipped)."""
    records = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


__all__ = ["JOURNAL_ENV", "DecisionJournal", "Sink", "journal_from_env", "read_journals"]
