"""The KV state machine's batches and sessions, as pure code: each op applied as if alone."""

from __future__ import annotations

from faultlab.errors.v1 import errors_pb2

from services.kv import commands
from services.kv.commands import Append, Batch, KvCommand, Put, SessionSeq
from services.kv.results import BatchApplied, KvResult, Written
from services.kv.state import KvState
from services.replicated.codec import pack
from services.replicated.fences import Fence
from services.replicated.refusal import Refusal


def apply(state: KvState, cmd: KvCommand) -> KvResult:
    return state.apply(0, commands.encode(cmd))


def test_each_op_of_a_batch_gets_its_own_revision_and_a_refusal_undoes_nothing() -> None:
    state = KvState()
    apply(state, Put("f", b"5", fence=Fence("lock", 5)))
    result = apply(
        state,
        Batch((Put("a", b"1"), Put("f", b"3", fence=Fence("lock", 3)), Append("a", b"2"))),
    )
    assert isinstance(result, BatchApplied)
    put, fenced, appended = result.results
    assert isinstance(put, Written) and isinstance(appended, Written)
    assert (put.revision, appended.revision) == (3, 4)  # the store starts at 1, as etcd's
    assert isinstance(fenced, Refusal) and fenced.reason == errors_pb2.FENCED
    assert fenced.details == {"highest_token": "5"}
    assert state.get("a").value == b"12" and state.get("f").value == b"5"  # type: ignore[union-attr]


def test_a_retried_batch_session_answers_the_first_results_and_applies_nothing() -> None:
    state = KvState()
    ops = (Append("k", b"x"), Append("k", b"x"))
    batch = Batch(ops, session=SessionSeq("c", 1, 0))
    first = apply(state, batch)
    assert apply(state, batch) == first
    assert state.get("k").value == b"xx" and state.revision == 3  # type: ignore[union-attr]
    stale = apply(state, Batch(ops, session=SessionSeq("c", 0, -1)))  # a seq already acked
    assert isinstance(stale, Refusal) and stale.reason == errors_pb2.INVALID


def append(seq: int, answered_through: int, value: bytes) -> Append:
    return Append("k", value, session=SessionSeq("c", seq, answered_through))


def test_writes_in_flight_together_apply_once_each_in_any_order() -> None:
    """Raft thesis §6.3: results are kept until the client says it has them, so a lower
    seq arriving after a higher one (a retry, a reorder) is applied, not refused."""
    state = KvState()
    second = apply(state, append(2, 0, b"b"))  # seqs 1 and 2 in flight: nothing answered
    first = apply(state, append(1, 0, b"a"))
    assert isinstance(first, Written) and apply(state, append(2, 0, b"b")) == second  # a retry
    assert state.get("k").value == b"ba"  # type: ignore[union-attr]
    apply(state, append(3, 2, b"c"))  # 1 and 2 answered: their results may go
    assert set(state.sessions["c"].results) == {3}
    stale = apply(state, append(1, 2, b"a"))
    assert isinstance(stale, Refusal) and "at or below 2" in stale.message
    assert state.get("k").value == b"bac"  # type: ignore[union-attr]


def test_sessions_survive_a_snapshot_and_the_oldest_format_still_loads() -> None:
    state = KvState()
    apply(state, append(2, 0, b"b"))
    restored = KvState()
    restored.restore(state.snapshot())
    assert restored.sessions == state.sessions
    legacy = KvState()  # format 0 from before acked_through: [last seq, its result]
    legacy_state = {
        "data": {},
        "revision": 0,
        "sessions": {"c": [4, {"deleted": True, "revision": 9}]},
        "fences": state.fences.snapshot(),
    }
    legacy.restore(pack(legacy_state))
    assert legacy.sessions["c"].acked_through == 3
    assert set(legacy.sessions["c"].results) == {4}
