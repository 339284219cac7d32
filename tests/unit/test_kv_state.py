"""The KV state machine's batches, as pure code: each op applied as if alone."""

from __future__ import annotations

from services.kv import commands
from services.kv.state import KvState


def apply(state: KvState, cmd: dict[str, object]) -> dict[str, object]:
    return state.apply(0, commands.encode(cmd))


def test_each_op_of_a_batch_gets_its_own_revision_and_a_refusal_undoes_nothing() -> None:
    state = KvState()
    apply(state, {"op": "put", "key": "f", "value": b"5", "fence": ["lock", 5]})
    result = apply(state, {"op": "batch", "ops": [
        {"op": "put", "key": "a", "value": b"1"},
        {"op": "put", "key": "f", "value": b"3", "fence": ["lock", 3]},
        {"op": "append", "key": "a", "value": b"2"},
    ]})  # fmt: skip
    put, fenced, appended = result["results"]  # type: ignore[misc]
    assert (put["revision"], appended["revision"]) == (2, 3)
    assert fenced == {"error": "fenced", "highest_token": 5}
    assert state.get("a").value == b"12" and state.get("f").value == b"5"  # type: ignore[union-attr]


def test_a_retried_batch_session_answers_the_first_results_and_applies_nothing() -> None:
    state = KvState()
    batch = {"op": "batch", "session": ["c", 1],
             "ops": [{"op": "append", "key": "k", "value": b"x"}] * 2}  # fmt: skip
    first = apply(state, batch)
    assert apply(state, batch) == first
    assert state.get("k").value == b"xx" and state.revision == 2  # type: ignore[union-attr]
    stale = apply(state, {**batch, "session": ["c", 0]})
    assert stale == {"error": "stale_session", "last_seq": 1}
