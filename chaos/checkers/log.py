"""The log checker: the essentials of Jepsen's Kafka checker (jepsen/tests/kafka.clj) for
histories of sends and polls on a log's partitions.

Operations (one history, keys are "topic/partition"):
    send   input: value (unique)          ok output: offset (-1: acked with none, acks=LEADER)
    poll   output: [[offset, value], ...] records one consumer read in one call, in order

What it finds:
- lost-write: an acknowledged value that no read ever saw, although some consumer read
  past where it must be: at or beyond its offset, or (a send acknowledged with no offset)
  the whole partition after the run. The final read of every partition reads it all.
- duplicate: one value at two or more offsets.
- inconsistent-offsets: one offset read (or acknowledged) with two different values.
- poll-skip: a consumer's next poll on a partition starts past where its last one ended.
- nonmonotonic-poll: it starts before (a consumer went backwards).
- nonmonotonic-send: one producer's acknowledged offsets on a partition do not increase.
And for the report, `unseen`: acknowledged values not yet read by any consumer, over time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chaos.history import Operation

FINAL = "final"  # the process of the reads after the run


@dataclass
class LogResult:
    sends: int = 0
    acknowledged: int = 0
    indefinite: int = 0
    read: int = 0  # distinct values read
    lost: list[str] = field(default_factory=list)
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # value -> offsets
    inconsistent_offsets: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    poll_skips: list[tuple[str, str, int, int]] = field(default_factory=list)
    nonmonotonic_polls: list[tuple[str, str, int, int]] = field(default_factory=list)
    nonmonotonic_sends: list[tuple[str, str, int, int]] = field(default_factory=list)
    unseen: list[tuple[float, int]] = field(default_factory=list)  # (seconds, count)

    @property
    def valid(self) -> bool:
        """No acknowledged record lost and no read anomaly (duplicates are counted, as
        Jepsen does, but an at-least-once producer is allowed them)."""
        return not (
            self.lost
            or self.inconsistent_offsets
            or self.poll_skips
            or self.nonmonotonic_polls
            or self.nonmonotonic_sends
        )

    def figures(self) -> dict[str, float]:
        return {
            "sends": self.sends,
            "acknowledged": self.acknowledged,
            "indefinite": self.indefinite,
            "read": self.read,
            "lost_write": len(self.lost),
            "duplicate": len(self.duplicates),
            "inconsistent_offsets": sum(len(v) for v in self.inconsistent_offsets.values()),
            "poll_skip": len(self.poll_skips),
            "nonmonotonic_poll": len(self.nonmonotonic_polls),
            "nonmonotonic_send": len(self.nonmonotonic_sends),
            "unseen_at_end": self.unseen[-1][1] if self.unseen else 0,
        }


def check(operations: list[Operation]) -> LogResult:
    result = LogResult()
    sends = [op for op in operations if op.f == "send"]
    polls = [op for op in operations if op.f == "poll" and op.outcome == "ok"]
    result.sends = len(sends)
    result.acknowledged = sum(1 for op in sends if op.outcome == "ok")
    result.indefinite = sum(1 for op in sends if op.outcome == "info")

    at: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))  # key->off->values
    offsets_of: dict[str, set[int]] = defaultdict(set)  # value -> offsets
    read_to: dict[str, int] = defaultdict(lambda: -1)  # key -> highest offset any poll read
    final_read: set[str] = set()  # keys read to their end after the run
    for op in polls:
        for offset, value in op.output:
            at[op.key][offset].add(value)
            offsets_of[value].add(offset)
            read_to[op.key] = max(read_to[op.key], offset)
        if op.process == FINAL:
            final_read.add(op.key)
    for op in sends:
        if op.outcome == "ok" and op.output is not None and op.output >= 0:
            at[op.key][op.output].add(op.input)
    result.read = len(offsets_of)

    for op in sends:
        if op.outcome != "ok" or op.input in offsets_of:
            continue
        offset = op.output if op.output is not None else -1
        if (offset >= 0 and read_to[op.key] >= offset) or op.key in final_read:
            result.lost.append(op.input)
    result.duplicates = {v: sorted(o) for v, o in offsets_of.items() if len(o) > 1}
    for key, by_offset in at.items():
        for offset, values in by_offset.items():
            if len(values) > 1:
                result.inconsistent_offsets.setdefault(key, {})[offset] = sorted(values)
    _polls_in_order(polls, result)
    _sends_in_order(sends, result)
    result.unseen = _unseen_over_time(sends, polls)
    return result


def _polls_in_order(polls: list[Operation], result: LogResult) -> None:
    last: dict[tuple[str, str], int] = {}  # (consumer, key) -> last offset it read
    for op in sorted(polls, key=lambda o: o.start_ns):
        if not op.output or op.process == FINAL:
            continue
        where = (op.process, op.key)
        first = op.output[0][0]
        if where in last:
            expected = last[where] + 1
            if first > expected:
                result.poll_skips.append((op.process, op.key, expected, first))
            elif first < expected:
                result.nonmonotonic_polls.append((op.process, op.key, expected, first))
        for a, b in zip(op.output, op.output[1:], strict=False):
            if b[0] != a[0] + 1:
                bad = result.poll_skips if b[0] > a[0] + 1 else result.nonmonotonic_polls
                bad.append((op.process, op.key, a[0] + 1, b[0]))
        last[where] = op.output[-1][0]


def _sends_in_order(sends: list[Operation], result: LogResult) -> None:
    last: dict[tuple[str, str], int] = {}
    for op in sorted(sends, key=lambda o: o.start_ns):
        if op.outcome != "ok" or op.output is None or op.output < 0:
            continue
        where = (op.process, op.key)
        if where in last and op.output <= last[where]:
            result.nonmonotonic_sends.append((op.process, op.key, last[where], op.output))
        last[where] = op.output


def _unseen_over_time(sends: list[Operation], polls: list[Operation]) -> list[tuple[float, int]]:
    """After each event: acknowledged values no poll had returned yet."""
    events: list[tuple[int, int, Any]] = []
    for op in sends:
        if op.outcome == "ok" and op.end_ns is not None:
            events.append((op.end_ns, 0, op.input))
    for op in polls:
        if op.end_ns is not None:
            events.extend((op.end_ns, 1, value) for _, value in op.output)
    acked: set[str] = set()
    seen: set[str] = set()
    unseen = 0
    series: list[tuple[float, int]] = []
    for time_ns, kind, value in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 0 and value not in acked:
            acked.add(value)
            unseen += value not in seen
        elif kind == 1 and value not in seen:
            seen.add(value)
            unseen -= value in acked
        series.append((time_ns / 1e9, unseen))
    return series
