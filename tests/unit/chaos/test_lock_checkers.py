"""The lock and exactly-once checkers on small hand-written histories."""

from __future__ import annotations

from typing import Any

from chaos.checkers import exactly_once
from chaos.checkers import lock as lock_checker
from chaos.history import Operation


def op(
    process: str,
    f: str,
    key: str,
    input: Any,
    output: Any,
    start: int,
    end: int | None,
    outcome: str = "ok",
) -> Operation:
    return Operation(process, f, key, input, output, outcome, start, end)  # type: ignore[arg-type]


def gc_pause_history(stale_write_accepted: bool) -> tuple[list[Operation], dict[str, list[str]]]:
    """The holder (session 1) is granted token 10 and reads; its session expires; client
    (session 2) gets token 20 and adds; the holder's late add is accepted or refused."""
    ops = [
        op("holder", "acquire", "L", 1, 10, 0, 10),
        op("holder", "read-set", "k", None, [], 11, 12),
        op("lock-service", "expire", "L", 1, None, 0, 50),
        op("client", "acquire", "L", 2, 20, 40, 60),
        op("client", "read-set", "k", None, [], 61, 62),
        op("client", "add", "k", ["client-1", 20], 5, 63, 64),
        op("client", "release", "L", 2, None, 65, 66),
        op(
            "holder",
            "add",
            "k",
            ["holder-1", 10],
            6,
            70,
            71,
            "ok" if stale_write_accepted else "fail",
        ),
    ]
    final = {"k": ["holder-1"] if stale_write_accepted else ["client-1"]}
    return ops, final


def test_unfenced_late_write_is_a_lost_update_and_a_stale_write() -> None:
    ops, final = gc_pause_history(stale_write_accepted=True)
    result = lock_checker.check(ops, final)
    assert result.mutex.valid  # the lock service itself did nothing wrong
    assert result.lost == ["client-1"]
    assert [(w.token, w.highest_before) for w in result.stale_writes] == [(10, 20)]
    assert not result.safe
    assert len(result.overlaps) == 1  # the holder never released: it still believes


def test_fenced_late_write_refused_is_safe_but_beliefs_still_overlap() -> None:
    ops, final = gc_pause_history(stale_write_accepted=False)
    result = lock_checker.check(ops, final)
    assert result.safe and not result.lost and not result.stale_writes
    assert len(result.overlaps) == 1


def test_two_holders_without_an_expiry_are_not_a_mutex() -> None:
    ops = [
        op("a", "acquire", "L", 1, 10, 0, 10),
        op("b", "acquire", "L", 2, 20, 20, 30),
        op("a", "release", "L", 1, None, 40, 50),
    ]
    assert not lock_checker.check(ops, {}).mutex.valid


def test_tokens_must_grow_in_grant_order() -> None:
    ops = [
        op("a", "acquire", "L", 1, 30, 0, 10),
        op("a", "release", "L", 1, None, 11, 12),
        op("b", "acquire", "L", 2, 20, 20, 30),
    ]
    assert lock_checker.check(ops, {}).token_violations


def test_an_indefinite_release_may_or_may_not_have_happened() -> None:
    ops = [
        op("a", "acquire", "L", 1, 10, 0, 10),
        op("a", "release", "L", 1, None, 11, None, "info"),
        op("b", "acquire", "L", 2, 20, 20, 30),
    ]
    assert lock_checker.check(ops, {}).mutex.valid


def test_exactly_once_counts_duplicates_losses_and_phantoms() -> None:
    ops = [
        op("c", "append", "k", "c-1", None, 0, 1),
        op("c", "append", "k", "c-2", None, 2, None, "info"),
        op("c", "append", "k", "c-3", None, 4, 5),
        op("c", "append", "k", "c-4", None, 6, 7, "fail"),
    ]
    result = exactly_once.check(ops, {"k": ["c-1", "c-2", "c-2", "c-4"]})
    assert result.duplicated == {"c-2": 2}
    assert result.lost == ["c-3"]
    assert result.applied_despite_failure == ["c-4"]
    assert not result.valid
    clean = exactly_once.check(ops[:2], {"k": ["c-1"]})
    assert clean.valid and clean.acknowledged == 1 and clean.indefinite == 1
