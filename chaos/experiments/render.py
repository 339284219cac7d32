"""Turning checker output into text a person can read."""

from __future__ import annotations

from typing import Any

from chaos.checkers.linearizability import KeyResult
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
