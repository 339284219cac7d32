"""The decision journal: one JSON line per decided call, for the limiter checker.

FAULTLAB_GATEWAY_DECISIONS=DIR turns it on (the chaos experiments do); each replica
writes DIR/REPLICA.jsonl, a line at a time, so it can be read while the node runs
(`read_journals` reads them all). A line is one `CallRecord` (call_record.py).
`loop_lag_ms` is the event loop's worst lateness over the last second
(services/runtime/loop_lag.py): the checker adds it to the decision-time bound, so a
machine too busy to run the gateway on time does not read as a slow decision.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

from services.gateway.admission import Sink
from services.gateway.call_record import CallRecord
from services.runtime.loop_lag import LoopLag

JOURNAL_ENV = "FAULTLAB_GATEWAY_DECISIONS"


class DecisionJournal:
    def __init__(self, path: Path, replica: str, lag: LoopLag | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(path, "a", buffering=1)  # noqa: SIM115 - held open
        self._replica = replica
        self._lag = lag

    def __call__(self, record: CallRecord) -> None:
        record.replica = self._replica
        if self._lag is not None:
            record.loop_lag_ms = round(self._lag.recent_max_ms(), 3)
        self._file.write(record.to_json() + "\n")

    def close(self) -> None:
        self._file.close()


def journal_from_env(replica: str, lag: LoopLag | None = None) -> DecisionJournal | None:
    folder = os.environ.get(JOURNAL_ENV)
    return DecisionJournal(Path(folder) / f"{replica}.jsonl", replica, lag) if folder else None


def read_journals(folder: Path) -> list[CallRecord]:
    """Every replica's records (a line cut short by a kill is skipped)."""
    records = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                records.append(CallRecord.from_map(json.loads(line)))
            except json.JSONDecodeError:
                continue
    return records


__all__ = [
    "JOURNAL_ENV",
    "CallRecord",
    "DecisionJournal",
    "Sink",
    "journal_from_env",
    "read_journals",
]
