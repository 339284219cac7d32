"""Where a partition's next batch will start, known on its leader before the commit: what
acks=1 answers with, as a Kafka leader answers with the offset it appended at.

Offsets are given when a batch is applied (dense, in log order), so a leader that answers
at append time must reckon them: from the partition's high watermark when its whole log
is applied, plus the records of every batch it proposed since, in the order proposed
(the order Raft appends them). A batch refused at apply (a fence, a producer's sequence)
makes the reckoning run ahead until the log is wholly applied again, when it starts
afresh; a new term starts unknown until then. Unknown is -1, the answer acks=1 gave
before this (librdkafka then numbers a batch's records from -1: wrong offsets, which is
why this exists).
"""

from __future__ import annotations

from services.log.partition import PartitionState
from services.replicated import ReplicatedGroup


class ProducedTail:
    def __init__(self) -> None:
        self._term = -1
        self._next = -1

    def reserve(self, group: ReplicatedGroup[PartitionState], records: int) -> int:
        """The offset a batch of `records` proposed next will start at; -1 when unknown.
        Call it right before proposing, with no await between."""
        if group.settled():
            self._term, self._next = group.term, group.state.high_watermark
        elif self._term != group.term:
            self._term, self._next = group.term, -1  # earlier terms' entries still to apply
        if self._next < 0:
            return -1
        base = self._next
        self._next += records
        return base
