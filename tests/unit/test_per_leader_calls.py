"""How PerLeader cuts the batches ready for one leader into calls: in order, each call
within CALL_BYTES past its first batch and within CALL_BATCHES."""

from __future__ import annotations

from typing import Any

from faultlab.log.v1 import log_pb2

from cluster.client import per_leader


def ready(*sizes: int) -> Any:
    """Batches of one record whose value has each size; futures play no part here."""
    return [
        (
            log_pb2.ProduceRequest(
                topic="t", partition=i, records=[log_pb2.Record(value=bytes(n))]
            ),
            None,
        )
        for i, n in enumerate(sizes)
    ]


def partitions(calls: Any) -> list[list[int]]:
    return [[req.partition for req, _ in call] for call in calls]


def test_small_batches_go_in_one_call() -> None:
    assert partitions(per_leader._calls_of(ready(10, 20, 30))) == [[0, 1, 2]]


def test_a_call_stops_before_its_bytes_pass_the_bound() -> None:
    mib = 1024 * 1024
    calls = per_leader._calls_of(ready(3 * mib, mib // 2, mib, 5 * mib, 10))
    assert partitions(calls) == [[0, 1], [2], [3], [4]]  # a batch past the bound goes alone


def test_a_call_stops_at_the_brokers_batch_count(monkeypatch: Any) -> None:
    monkeypatch.setattr(per_leader, "CALL_BATCHES", 2)
    assert partitions(per_leader._calls_of(ready(1, 1, 1, 1, 1))) == [[0, 1], [2, 3], [4]]
