"""Durability over a history of unique writes and one final read of them all.

    write  input: key (unique)        acknowledged when ok
    range  process "final-kv", ok output: every key present after the run
    send / poll (process "final")     log records, as chaos.producing records them

lost: acknowledged and absent from the final read. A write whose outcome is unknown
(info) may be present or not; a failed one must not matter. Also here: the rate and
latency of acknowledged writes in a window, the figures the disk experiments report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from chaos.checkers.latency import latency_ms
from chaos.checkers.log import FINAL as FINAL_LOG
from chaos.history import Operation

FINAL_KV = "final-kv"  # the process of the read after the run


@dataclass
class KvDurability:
    acknowledged: int = 0
    indefinite: int = 0
    read: int = 0
    lost: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        return {
            "kv_acknowledged": self.acknowledged,
            "kv_indefinite": self.indefinite,
            "kv_read_back": self.read,
            "kv_lost": len(self.lost),
        }


def check_kv(operations: list[Operation]) -> KvDurability:
    writes = [op for op in operations if op.f == "write" and op.process != FINAL_KV]
    finals = [op for op in operations if op.process == FINAL_KV and op.outcome == "ok"]
    if not finals:
        raise ValueError("the history has no final read: nothing to check the writes against")
    present = set(finals[-1].output)
    acked = {op.key for op in writes if op.outcome == "ok"}
    return KvDurability(
        acknowledged=len(acked),
        indefinite=sum(1 for op in writes if op.outcome == "info"),
        read=len(present),
        lost=sorted(acked - present),
    )


def acked_writes_per_s(operations: list[Operation], start_s: float, end_s: float) -> float:
    """Acknowledged writes completed in [start_s, end_s), per second."""
    done = [op for op in _acked_writes(operations) if start_s <= op.end_ns / 1e9 < end_s]  # type: ignore[operator]
    return len(done) / (end_s - start_s) if end_s > start_s else 0.0


def write_latency_ms(operations: list[Operation], start_s: float, end_s: float) -> dict[str, float]:
    """p50 / p99 / count of acknowledged writes invoked in [start_s, end_s)."""
    return latency_ms(operations, "write", start_s, end_s)


def _acked_writes(operations: list[Operation]) -> list[Operation]:
    return [
        op for op in operations if op.f == "write" and op.outcome == "ok" and op.end_ns is not None
    ]


@dataclass
class LogDurability:
    acknowledged: int = 0
    read: int = 0
    lost: list[str] = field(default_factory=list)


def check_log(operations: list[Operation]) -> LogDurability:
    """Acknowledged records absent from the final read of their partition. Stricter than
    the log checker's lost-write (chaos.checkers.log), which forgives a record some
    consumer read before it vanished: after a power cut what counts is what is left."""
    final: dict[str, set[str]] = defaultdict(set)
    for op in operations:
        if op.process == FINAL_LOG and op.f == "poll" and op.outcome == "ok":
            final[op.key].update(value for _, value in op.output)
    acked = [op for op in operations if op.f == "send" and op.outcome == "ok"]
    unread = {op.key for op in acked} - set(final)
    if unread:
        raise ValueError(f"no final read of {sorted(unread)}: nothing to check the sends against")
    return LogDurability(
        acknowledged=len(acked),
        read=sum(len(values) for values in final.values()),
        lost=[op.input for op in acked if op.input not in final[op.key]],
    )
