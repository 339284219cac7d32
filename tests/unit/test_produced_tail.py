"""Where acks=1 says a batch will land (services/log/tail.py): from the high watermark
when the leader's log is wholly applied, counting the records proposed since; unknown
(-1) in a new term until the log is applied again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from services.log.partition import PartitionState
from services.log.tail import ProducedTail


@dataclass
class Leader:
    """The three things the tail reads of a partition's group on its leader."""

    term: int = 1
    applied_all: bool = True
    state: PartitionState = field(default_factory=PartitionState)

    def settled(self) -> bool:
        return self.applied_all


def test_batches_proposed_one_after_another_are_given_consecutive_offsets() -> None:
    tail, group = ProducedTail(), Leader()
    assert tail.reserve(cast(Any, group), 3) == 0
    group.applied_all = False  # those three are in flight
    assert tail.reserve(cast(Any, group), 2) == 3
    assert tail.reserve(cast(Any, group), 1) == 5


def test_a_wholly_applied_log_starts_the_reckoning_afresh() -> None:
    tail, group = ProducedTail(), Leader()
    tail.reserve(cast(Any, group), 10)  # say this batch was refused at apply: no records
    assert tail.reserve(cast(Any, group), 1) == group.state.high_watermark == 0


def test_a_new_term_is_unknown_until_its_log_is_applied() -> None:
    tail, group = ProducedTail(), Leader()
    tail.reserve(cast(Any, group), 4)
    group.term, group.applied_all = 2, False  # entries of term 1 still to apply
    assert tail.reserve(cast(Any, group), 1) == -1
    assert tail.reserve(cast(Any, group), 1) == -1
    group.applied_all = True
    assert tail.reserve(cast(Any, group), 1) == 0
