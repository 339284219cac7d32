"""Turning checker output into text a person can read."""

from __future__ import annotations

from typing import Any

from chaos.checkers.linearizability import KeyResult
from chaos.checkers.log import LogResult
from chaos.history import Operation


def _show(value: Any) -> str:
    return "" if value is None else str(value)


def operation_row(op: Operation, t0_ns: int) -> str:
    end = "…" if op.end_ns is None else f"{(op.end_ns - t0_ns) / 1e6:.1f}"
    return (
        f"| {op.process} | {op.node or 'leader'} | {op.f} | {_show(op.input)} | "
        f"{_show(op.output)} | {op.outcome} | {(op.start_ns - t0_ns) / 1e6:.1f} | {end} |"
    )


def failing_window_md(failure: KeyResult) -> str:
    """The operations around the point the search could not get past, as a table."""
    if not failure.window:
        return ""
    t0 = failure.window[0].start_ns
    lines = [
        f"Key `{failure.key}`: {failure.operations} operations; the search linearized at "
        f"most {failure.linearized_prefix} before getting stuck. The operations overlapping "
        "the one it could not place (times in ms from the first of them; reads return "
        "[value, version]; … = outcome unknown):",
        "",
        "| process | node | op | input | output | outcome | invoked | completed |",
        "|---|---|---|---|---|---|---|---|",
        *(operation_row(op, t0) for op in failure.window[:40]),
    ]
    if len(failure.window) > 40:
        lines.append(f"| … {len(failure.window) - 40} more | | | | | | | |")
    return "\n".join(lines)


def log_unseen_table(result: LogResult, duration_s: float, rows: int = 10) -> str:
    """Acknowledged records no consumer had read yet, sampled over the run: the consumer's
    lag, and, once it stays up after the final read, the records that are gone."""
    if not result.unseen:
        return ""
    lines = ["| seconds | acknowledged, not yet read |", "|---|---|"]
    step_s = max(duration_s / rows, 0.1)
    at_s, i, count = 0.0, 0, 0
    while at_s <= duration_s + 1e-9:
        while i < len(result.unseen) and result.unseen[i][0] <= at_s:
            count = result.unseen[i][1]
            i += 1
        lines.append(f"| {at_s:.1f} | {count} |")
        at_s += step_s
    lines.append(f"| end (after the final read) | {result.unseen[-1][1]} |")
    return "\n".join(lines)


def log_anomalies(result: LogResult) -> str:
    parts = []
    if result.lost:
        parts.append(f"{len(result.lost)} of {result.acknowledged} acknowledged records lost")
    for name in ("inconsistent_offsets", "poll_skip", "nonmonotonic_poll", "nonmonotonic_send"):
        count = result.figures()[name]
        if count:
            parts.append(f"{count:.0f} {name.replace('_', '-')}")
    return "; ".join(parts)


def log_lost_examples(result: LogResult) -> str:
    if not result.lost:
        return ""
    shown = ", ".join(f"`{v}`" for v in result.lost[:10])
    more = f" and {len(result.lost) - 10} more" if len(result.lost) > 10 else ""
    return f"Acknowledged, never read by the final read of the whole partition: {shown}{more}."
