"""Every reason a state machine can refuse with becomes an error of the tree in one place
(services/replicated/refusal.py), definite: a refusal changed nothing."""

from __future__ import annotations

import pytest
from faultlab.errors.v1 import errors_pb2

from services.kv import results as kv_results
from services.lock import results as lock_results
from services.log import results as log_results
from services.replicated.fences import Fence, fenced
from services.replicated.refusal import Refusal, answered, can_refuse_with
from services.runtime import errors

REFUSED_WITH = sorted(
    {*kv_results.REFUSES, *lock_results.REFUSES, *log_results.REFUSES},
)


@pytest.mark.parametrize("reason", REFUSED_WITH, ids=errors_pb2.Reason.Name)
def test_every_reason_a_state_machine_refuses_with_maps_to_a_definite_error(reason: int) -> None:
    assert can_refuse_with(reason)
    error = Refusal(reason, "refused", {"fact": "1"}).error()
    assert error.reason == reason and error.definite
    assert error.message == "refused" and error.details == {"fact": "1"}


def test_the_refusals_each_state_machine_builds_are_among_its_reasons() -> None:
    built = {
        kv_results.REFUSES: [
            kv_results.too_large(2),
            kv_results.stale_session(1, 2),
            fenced(Fence("f", 1), 2),
        ],
        lock_results.REFUSES: [
            lock_results.unknown_session(1),
            lock_results.session_expired(1),
            lock_results.not_holder(1, "a", 2),
            lock_results.stale_seq(3),
        ],
        log_results.REFUSES: [
            log_results.topic_exists("t"),
            log_results.producer_fenced(1, 2),
            log_results.out_of_order(3),
            log_results.unknown_member("g", "m"),
            log_results.illegal_generation(1, 2),
            log_results.rebalance_in_progress("g"),
            fenced(Fence("f", 1), 2),
        ],
    }
    for reasons, refusals in built.items():
        assert {r.reason for r in refusals} == set(reasons)


def test_reasons_decided_outside_any_state_machine_are_not_refusals() -> None:
    assert not can_refuse_with(errors_pb2.NOT_LEADER)
    assert not can_refuse_with(errors_pb2.RATE_LIMITED)
    mapped = {r for r in errors.DEFINITE if can_refuse_with(r)}
    assert set(REFUSED_WITH) <= mapped


def test_an_answer_is_its_result_or_its_refusal_raised() -> None:
    assert answered(lock_results.KeptAlive(5), lock_results.KeptAlive) == lock_results.KeptAlive(5)
    with pytest.raises(errors.NotHolder, match="does not hold 'a'") as e:
        answered(lock_results.not_holder(1, "a", 2), lock_results.Released)
    assert e.value.details == {"holder": "2"}
    with pytest.raises(AssertionError):
        answered(lock_results.KeptAlive(5), lock_results.Released)
