"""The log checker on small hand-written histories, one anomaly each."""

from __future__ import annotations

from typing import Any

from chaos.checkers.log import FINAL, check
from chaos.history import Operation

K = "t/0"


def op(
    process: str, f: str, input: Any, output: Any, start: int, outcome: str = "ok", key: str = K
) -> Operation:
    return Operation(process, f, key, input, output, outcome, start, start + 1)  # type: ignore[arg-type]


def send(value: str, offset: int | None, start: int, outcome: str = "ok") -> Operation:
    return op("p1", "send", value, offset, start, outcome)


def poll(records: list[tuple[int, str]], start: int, process: str = "c1") -> Operation:
    return op(process, "poll", None, [list(r) for r in records], start)


def test_a_clean_history_is_valid_and_nothing_is_unseen_at_the_end() -> None:
    ops = [
        send("a", 0, 0),
        send("b", 1, 2),
        poll([(0, "a")], 3),
        poll([(1, "b")], 5),
        poll([(0, "a"), (1, "b")], 7, FINAL),
    ]
    result = check(ops)
    assert result.valid and result.figures()["unseen_at_end"] == 0
    assert result.unseen[:2] == [(1e-9, 1), (3e-9, 2)]


def test_an_acked_value_missing_below_what_was_read_is_lost() -> None:
    ops = [send("a", 0, 0), send("b", 1, 2), poll([(1, "b")], 5, FINAL)]
    result = check(ops)
    assert result.lost == ["a"] and not result.valid


def test_an_acked_value_without_offset_is_lost_once_the_final_read_missed_it() -> None:
    ops = [send("a", -1, 0), send("b", 0, 2)]
    assert check(ops).valid  # nobody read: it may still come
    assert check([*ops, poll([(0, "b")], 5, FINAL)]).lost == ["a"]


def test_an_indefinite_send_missing_is_not_lost() -> None:
    assert check([send("a", None, 0, "info"), poll([], 5, FINAL)]).valid


def test_duplicates_and_inconsistent_offsets() -> None:
    ops = [send("a", 0, 0), poll([(0, "a"), (1, "a")], 3), poll([(0, "x")], 5, "c2")]
    result = check(ops)
    assert result.duplicates == {"a": [0, 1]}
    assert result.inconsistent_offsets == {K: {0: ["a", "x"]}}


def test_poll_skip_and_nonmonotonic_poll_per_consumer() -> None:
    ops = [poll([(0, "a"), (1, "b")], 0), poll([(3, "d")], 2), poll([(2, "c")], 4)]
    result = check(ops)
    assert result.poll_skips == [("c1", K, 2, 3)]
    assert result.nonmonotonic_polls == [("c1", K, 4, 2)]


def test_nonmonotonic_send() -> None:
    result = check([send("a", 5, 0), send("b", 3, 2)])
    assert result.nonmonotonic_sends == [("p1", K, 5, 3)]
