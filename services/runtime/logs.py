"""One JSON line per event on stderr, each carrying the node id.

    {"ts": "2026-11-22T04:31:07.120Z", "node": "kv1", "level": "info", "event": "serving", ...}

Call `event(logger, "name", key=value, ...)`; the launcher keeps each node's stderr in
the run folder, so `jq` over those files is the way to read a run.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_FIELDS = "faultlab_fields"


class _JsonFormatter(logging.Formatter):
    def __init__(self, node_id: str) -> None:
        super().__init__()
        self._node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "node": self._node_id,
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(node_id: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(node_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, name, extra={_FIELDS: fields})
