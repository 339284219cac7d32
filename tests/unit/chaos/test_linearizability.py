"""The linearizability checker on hand-written histories, valid and not."""

from __future__ import annotations

from typing import Any

from chaos.checkers.linearizability import check
from chaos.history import Operation


def op(
    f: str,
    start: int,
    end: int | None,
    input: Any = None,
    output: Any = None,
    outcome: str = "ok",
    key: str = "k",
    process: str = "p",
) -> Operation:
    return Operation(process, f, key, input, output, outcome, start, end)  # type: ignore[arg-type]


def write(v: str, start: int, end: int | None, **kw: Any) -> Operation:
    return op(
        "write", start, end, input=v, outcome=kw.pop("outcome", "ok" if end else "info"), **kw
    )


def read(value: str | None, version: int, start: int, end: int, **kw: Any) -> Operation:
    return op("read", start, end, output=[value, version], **kw)


def cas(expected: int, new: str, swapped: bool | None, start: int, end: int | None) -> Operation:
    outcome = "info" if swapped is None else "ok"
    return op("cas", start, end, input=[expected, new], output=swapped, outcome=outcome)


def test_empty_and_sequential_histories_are_valid() -> None:
    assert check([]).valid
    assert check([read(None, 0, 0, 1), write("a", 2, 3), read("a", 1, 4, 5)]).valid


def test_a_value_never_written_is_invalid() -> None:
    assert not check([write("a", 0, 1), read("b", 1, 2, 3)]).valid


def test_concurrent_overlapping_writes_may_land_in_either_order() -> None:
    ws = [write("a", 0, 10, process="p1"), write("b", 5, 15, process="p2")]
    assert check([*ws, read("a", 2, 20, 25)]).valid
    assert check([*ws, read("b", 2, 20, 25)]).valid
    # Both writes done: the read must see the second of them, at version 2.
    assert not check([*ws, read("a", 1, 20, 25)]).valid


def test_a_read_concurrent_with_a_write_may_see_either_side() -> None:
    base = [write("a", 0, 1), write("b", 5, 15, process="w")]
    assert check([*base, read("a", 1, 6, 8)]).valid
    assert check([*base, read("b", 2, 6, 8)]).valid


def test_a_stale_read_is_invalid() -> None:
    history = [write("a", 0, 1), write("b", 2, 3), read("a", 1, 4, 5)]
    result = check(history)
    assert not result.valid
    failure = result.failures[0]
    assert failure.key == "k"
    assert any(o.f == "read" and o.output == ["a", 1] for o in failure.window)


def test_a_stale_read_hidden_by_a_later_write_is_still_invalid() -> None:
    history = [
        write("a", 0, 1),
        write("b", 2, 3),
        read("a", 1, 4, 5, process="stale"),
        write("c", 6, 7),
        read("c", 3, 8, 9),
    ]
    assert not check(history).valid


def test_an_info_write_may_have_happened() -> None:
    history = [write("a", 0, 1), write("b", 2, None, process="lost"), read("b", 2, 10, 12)]
    assert check(history).valid


def test_an_info_write_may_not_have_happened() -> None:
    history = [write("a", 0, 1), write("b", 2, None, process="lost"), read("a", 1, 10, 12)]
    assert check(history).valid


def test_an_info_write_cannot_take_effect_before_it_was_invoked() -> None:
    history = [write("a", 0, 1), read("b", 2, 2, 3), write("b", 5, None, process="late")]
    assert not check(history).valid


def test_failed_operations_are_ignored() -> None:
    history = [write("a", 0, 1), write("zzz", 2, 3, outcome="fail"), read("a", 1, 4, 5)]
    assert check(history).valid


def test_compare_and_set() -> None:
    assert check([write("a", 0, 1), cas(1, "b", True, 2, 3), read("b", 2, 4, 5)]).valid
    assert not check([write("a", 0, 1), cas(2, "b", True, 2, 3)]).valid  # wrong version
    assert not check([write("a", 0, 1), cas(1, "b", False, 2, 3)]).valid  # should have swapped
    assert check([write("a", 0, 1), cas(5, "b", False, 2, 3), read("a", 1, 4, 5)]).valid


def test_an_unknown_cas_may_or_may_not_have_swapped() -> None:
    base = [write("a", 0, 1), cas(1, "b", None, 2, None)]
    assert check([*base, read("b", 2, 5, 6)]).valid
    assert check([*base, read("a", 1, 5, 6)]).valid


def test_keys_are_checked_independently() -> None:
    history = [
        write("a", 0, 1, key="x"),
        write("a", 0, 1, key="y"),
        write("b", 2, 3, key="x"),
        read("a", 1, 4, 5, key="y"),
    ]
    result = check(history)
    assert result.valid and [k.key for k in result.keys] == ["x", "y"]
    bad = check([*history, read("a", 1, 6, 7, key="x")])
    assert [k.key for k in bad.failures] == ["x"]
