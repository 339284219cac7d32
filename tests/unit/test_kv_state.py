"""The KV state machine's batches, as pure code: each op applied as if alone."""

from __future__ import annotations

from services.kv import commands
from services.kv.state import KvState


def apply(state: KvState, cmd: dict[str, object]) -> dict[str, object]:
    return state.apply(0, commands.encode(cmd))


def test_each_op_of_a_batch_gets_its_own_revision_and_a_refusal_undoes_nothing() -> None:
    state = KvState()
    apply(state, {"op": "put", "key": "f", "value": b"5", "fence": ["lock", 5]})
    result = apply(
        state,
        {
            "op": "batch",
            "ops": [
                {"op": "put", "key": "a", "value": b"1"},
                {"op": "put", "key": "f", "value": b"3", "fence": ["lock", 3]},
                {"op": "append", "key": "a", "value": b"2"},
            ],
        },
    )
    put, fenced, appended = result["results"]  # type: ignore[misc]
    assert (put["revision"], appended["revision"]) == (2, 3)
    assert fenced == {"error": "fenced", "highest_token": 5}
    assert state.get("a").value == b"12" and state.get("f").value == b"5"  # type: ignore[union-attr]


def test_a_retried_batch_session_answers_the_first_results_and_applies_nothing() -> None:
    state = KvState()
    batch = {
        "op": "batch",
        "session": ["c", 1],
        "ops": [{"op": "append", "key": "k", "value": b"x"}] * 2,
    }
    first = apply(state, batch)
    assert apply(state, batch) == first
    assert state.get("k").value == b"xx" and state.revision == 2  # type: ignore[union-attr]
    stale = apply(state, {**batch, "session": ["c", 0]})  # logged before acked_through
    assert stale == {"error": "stale_session", "last_seq": 0}


def put(seq: int, answered_through: int, value: bytes) -> dict[str, object]:
    return {"op": "append", "key": "k", "value": value, "session": ["c", seq, answered_through]}


def test_writes_in_flight_together_apply_once_each_in_any_order() -> None:
    """Raft thesis §6.3: results are kept until the client says it has them, so a lower
    seq arriving after a higher one (a retry, a reorder) is applied, not refused."""
    state = KvState()
    second = apply(state, put(2, 0, b"b"))  # seqs 1 and 2 in flight: nothing answered
    first = apply(state, put(1, 0, b"a"))
    assert "error" not in first and apply(state, put(2, 0, b"b")) == second  # a retry
    assert state.get("k").value == b"ba"  # type: ignore[union-attr]
    apply(state, put(3, 2, b"c"))  # 1 and 2 answered: their results may go
    assert set(state.sessions["c"].results) == {3}
    assert apply(state, put(1, 2, b"a")) == {"error": "stale_session", "last_seq": 2}
    assert state.get("k").value == b"bac"  # type: ignore[union-attr]


def test_sessions_survive_a_snapshot_in_either_format() -> None:
    state = KvState()
    apply(state, put(2, 0, b"b"))
    restored = KvState()
    restored.restore(state.snapshot())
    assert restored.sessions == state.sessions
    legacy = KvState()  # a snapshot from before acked_through: [last seq, its result]
    legacy_state = {
        "data": {},
        "revision": 0,
        "sessions": {"c": [4, {"revision": 9}]},
        "fences": state.fences.snapshot(),
    }
    legacy.restore(commands.encode(legacy_state))
    assert legacy.sessions["c"].acked_through == 3
    assert legacy.sessions["c"].results == {4: {"revision": 9}}
