"""The catalogue of experiments, by name.

Loaded on first use of EXPERIMENTS rather than on import: some entries are written on the
scenario API (chaos/scenario), which itself stands on chaos.experiments.base, so importing
them all here would make `import chaos.scenario` a circular import.
"""

from __future__ import annotations

import importlib

from chaos.experiments.base import Experiment

MODULES = (  # in the order `faultlab chaos list` shows them
    "stale_read",
    "disruptive_rejoin",
    "lock_gc_pause",
    "double_apply",
    "lost_ack",
    "zombie_consumer",
    "no_fsync",
    "slow_disk",
    "limiter_partition",
    "tail_latency",
    "overload_cascade",
    "retry_storm",
    "etcd_lock_pause",
    "kafka_lost_ack",
    "kafka_zombie_consumer",
    "clock_skew",
    "lock_clock_skew",
    "cache_stampede",
    "cache_feedback",
)


def __getattr__(name: str) -> dict[str, Experiment]:
    if name != "EXPERIMENTS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    modules = [importlib.import_module(f"{__name__}.{m}") for m in MODULES]
    catalogue: dict[str, Experiment] = {m.EXPERIMENT.name: m.EXPERIMENT for m in modules}
    globals()["EXPERIMENTS"] = catalogue
    return catalogue


__all__ = ["EXPERIMENTS", "Experiment"]
