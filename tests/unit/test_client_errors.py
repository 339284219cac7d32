"""The client side of the error tree, without a server: what the edge (status.py) puts on
the wire is read back by reason, and the retry loop's verdict keeps an unknown outcome
unknown. Failures are built as the gRPC library builds them (AioRpcError)."""

from __future__ import annotations

import random
from collections.abc import Callable

import grpc
import pytest

from cluster.client import GroupCaller, errors
from services.runtime import errors as tree
from services.runtime.backoff import Backoff
from services.runtime.status import to_status

EVERY_ERROR: list[tree.ServiceError] = [
    tree.InvalidArgument("bad key"),
    tree.NotLeader("kv2", "kv1", "127.0.0.1:21007"),
    tree.Fenced("token 3 is below 5"),
    tree.NotApplied("replaced"),
    tree.OutcomeUnknown("no quorum in time"),
    tree.NoQuorum("read not confirmed"),
    tree.OutOfRange("revision 1 is gone"),
    tree.SlowConsumer("too slow"),
]


def on_the_wire(error: tree.ServiceError) -> grpc.aio.AioRpcError:
    status = to_status(error)
    return grpc.aio.AioRpcError(
        status.code,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*status.trailing_metadata),
        status.details,
    )


@pytest.mark.parametrize("error", EVERY_ERROR, ids=lambda e: type(e).__name__)
def test_every_error_reads_back_by_reason(error: tree.ServiceError) -> None:
    e = on_the_wire(error)
    assert e.code() == error.code
    assert errors.reason_of(e) == error.reason
    assert errors.definite(e) is error.definite
    expected_hint = "kv1" if isinstance(error, tree.NotLeader) else ""
    assert errors.leader_hint(e) == expected_hint


def test_a_failure_without_a_reason_is_indefinite() -> None:
    e = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "connection refused"
    )
    assert errors.reason_of(e) == errors.Reason.Value("REASON_UNSPECIFIED")
    assert not errors.definite(e)


def scripted(answers: list[tree.ServiceError | str]) -> Callable[[object], object]:
    """An attempt function answering with each of `answers` in turn ("ok" succeeds)."""
    queue = list(answers)

    async def attempt(channel: object) -> str:
        answer = queue.pop(0)
        if isinstance(answer, str):
            return answer
        raise on_the_wire(answer)

    return attempt


async def call(
    answers: list[tree.ServiceError | str],
    attempts: int | None = 3,
    budget_s: float | None = None,
) -> object:
    caller = GroupCaller(
        "kv",
        {"kv1": "127.0.0.1:1", "kv2": "127.0.0.1:2"},
        attempts=attempts,
        budget_s=budget_s,
        rng=random.Random(1),
        backoff=Backoff(0.0, 0.0),
    )
    try:
        return await caller.call(scripted(answers))  # type: ignore[arg-type]
    finally:
        await caller.close()


async def test_retries_follow_the_leader_then_succeed() -> None:
    assert await call([tree.NotLeader("kv1", "kv2"), tree.NotApplied("x"), "ok"]) == "ok"


async def test_a_time_budget_alone_retries_past_any_count_of_attempts() -> None:
    """The CLI's --command-timeout: an election that takes many refusals is waited out."""
    refusals: list[tree.ServiceError | str] = [tree.NoQuorum("electing")] * 50
    assert await call([*refusals, "ok"], attempts=None, budget_s=60.0) == "ok"


async def test_a_spent_time_budget_ends_the_retries() -> None:
    answers: list[tree.ServiceError | str] = [tree.NoQuorum("electing"), "ok"]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call(answers, attempts=None, budget_s=0.0)
    assert errors.reason_of(e.value) == tree.NoQuorum.reason


async def test_an_unknown_outcome_is_not_undone_by_a_later_routing_refusal() -> None:
    answers: list[tree.ServiceError | str] = [
        tree.OutcomeUnknown("may have applied"),
        tree.NotLeader("kv1"),
        tree.NotApplied("x"),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call(answers)
    assert errors.reason_of(e.value) == tree.OutcomeUnknown.reason
    assert not errors.definite(e.value)


async def test_the_state_machines_own_answer_to_a_retry_is_the_truth() -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call([tree.OutcomeUnknown("may have applied"), tree.Fenced("token too low")])
    assert errors.reason_of(e.value) == tree.Fenced.reason  # the session makes it authoritative


async def test_bad_input_is_not_retried() -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call([tree.InvalidArgument("empty key"), "ok"])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
