"""How far back the KV store keeps history (past reads, watch replays), as etcd's
--auto-compaction-mode and --auto-compaction-retention say it:

    FAULTLAB_ETCD_AUTO_COMPACTION_MODE       revision (default) | periodic
    FAULTLAB_ETCD_AUTO_COMPACTION_RETENTION  revision: versions kept (default 10000)
                                             periodic: a duration (90s, 5m, 1h)

revision: the state machine compacts as it applies, so every replica compacts at the same
revision with no command (state.py). periodic: the leader proposes a Compact of the
revision that was current one retention ago, every tenth of it (compactor.py), as etcd's
periodic compactor does; the state machine then keeps everything until told. Every node
of a cluster must be given the same setting.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from services.runtime.errors import InvalidArgument

MODE_ENV = "FAULTLAB_ETCD_AUTO_COMPACTION_MODE"
RETENTION_ENV = "FAULTLAB_ETCD_AUTO_COMPACTION_RETENTION"
DEFAULT_REVISIONS = 10_000
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Compaction:
    revisions: int | None = DEFAULT_REVISIONS  # revision mode: versions kept
    period_s: float | None = None  # periodic mode: how long versions are kept

    @classmethod
    def from_env(cls) -> Compaction:
        mode = os.environ.get(MODE_ENV, "revision")
        retention = os.environ.get(RETENTION_ENV, "")
        if mode == "revision":
            if not retention:
                return cls()
            if not retention.isdigit() or int(retention) < 1:
                raise InvalidArgument(f"{RETENTION_ENV}={retention!r}: a number of revisions")
            return cls(revisions=int(retention))
        if mode == "periodic":
            match = _DURATION.match(retention or "1h")
            if match is None:
                raise InvalidArgument(f"{RETENTION_ENV}={retention!r}: a duration like 5m or 1h")
            return cls(revisions=None, period_s=float(match[1]) * _UNIT_S[match[2]])
        raise InvalidArgument(f"{MODE_ENV}={mode!r}: revision or periodic")
