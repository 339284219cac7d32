"""Latency of completed operations in a window of the run: the figure the latency
experiments (slow-disk, tail-latency, overload-cascade) judge by."""

from __future__ import annotations

import statistics

from chaos.history import Operation


def latency_ms(
    operations: list[Operation], f: str, start_s: float, end_s: float, outcome: str = "ok"
) -> dict[str, float]:
    """p50 / p99 / count of operations `f` with `outcome`, invoked in [start_s, end_s)."""
    took = sorted(
        (op.end_ns - op.start_ns) / 1e6
        for op in operations
        if op.f == f
        and op.outcome == outcome
        and op.end_ns is not None
        and start_s <= op.start_ns / 1e9 < end_s
    )
    if not took:
        return {"p50": 0.0, "p99": 0.0, "count": 0}
    cuts = statistics.quantiles(took, n=100, method="inclusive") if len(took) > 1 else took * 99
    return {"p50": statistics.median(took), "p99": cuts[98], "count": len(took)}
