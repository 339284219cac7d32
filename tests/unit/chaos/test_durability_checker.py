"""The durability checker on hand-written histories."""

from __future__ import annotations

import pytest

from chaos.checkers import durability
from chaos.history import Operation

S = 1_000_000_000  # ns


def op(
    process: str,
    f: str,
    key: str,
    outcome: str,
    start_s: float,
    end_s: float | None,
    input: object = None,
    output: object = None,
) -> Operation:
    end_ns = None if end_s is None else int(end_s * S)
    return Operation(process, f, key, input, output, outcome, int(start_s * S), end_ns)  # type: ignore[arg-type]


def test_an_acknowledged_key_missing_from_the_final_read_is_lost() -> None:
    ops = [
        op("w1", "write", "a", "ok", 0.0, 0.1),
        op("w1", "write", "b", "ok", 0.2, 0.3),
        op("w1", "write", "c", "info", 0.4, None),  # unknown: may be missing
        op("w1", "write", "d", "fail", 0.5, 0.6),  # certainly not applied
        op(durability.FINAL_KV, "range", "p", "ok", 1.0, 1.1, output=["a"]),
    ]
    result = durability.check_kv(ops)
    assert result.lost == ["b"]
    assert (result.acknowledged, result.indefinite, result.read) == (2, 1, 1)


def test_without_a_final_read_there_is_nothing_to_check() -> None:
    with pytest.raises(ValueError, match="no final read"):
        durability.check_kv([op("w1", "write", "a", "ok", 0.0, 0.1)])


def test_a_record_read_before_it_vanished_is_still_lost() -> None:
    ops = [
        op("p1", "send", "t/0", "ok", 0.0, 0.1, input="p1-1", output=0),
        op("p1", "send", "t/0", "ok", 0.2, 0.3, input="p1-2", output=1),
        op("c1/p0", "poll", "t/0", "ok", 0.3, 0.4, output=[[0, "p1-1"], [1, "p1-2"]]),
        op("final", "poll", "t/0", "ok", 2.0, 2.1, output=[[0, "p1-1"]]),
    ]
    result = durability.check_log(ops)
    assert result.lost == ["p1-2"] and result.acknowledged == 2 and result.read == 1


def test_rates_and_latencies_count_acknowledged_writes_in_their_window() -> None:
    ops = [op("w1", "write", f"k{i}", "ok", i * 0.1, i * 0.1 + 0.01 * (i + 1)) for i in range(10)]
    ops.append(op("w1", "write", "x", "info", 0.05, None))
    assert durability.acked_writes_per_s(ops, 0.0, 0.5) == pytest.approx(10.0)  # 5 in 0.5 s
    latency = durability.write_latency_ms(ops, 0.0, 0.5)
    assert latency["count"] == 5 and latency["p50"] == pytest.approx(30.0)
    assert durability.write_latency_ms(ops, 5.0, 6.0)["count"] == 0
