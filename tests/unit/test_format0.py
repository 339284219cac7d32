"""Logs and snapshots written before commands were typed (format 0, fixtures/format0)
still load: each state machine replays the old commands to the same state and the same
answers as the old code gave, and restores the old snapshot to that state."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from faultlab.errors.v1 import errors_pb2

from services.kv import results as kv_results
from services.kv.state import KvState
from services.lock import results as lock_results
from services.lock.state import LockState
from services.log import results as log_results
from services.log.groups import GroupsState
from services.log.meta import MetaState
from services.log.partition import PartitionState
from services.log.topic import TopicMeta
from services.replicated.codec import unpack
from services.replicated.refusal import Refusal

FIXTURES = Path(__file__).parent / "fixtures" / "format0"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = unpack((FIXTURES / f"{name}.msgpack").read_bytes())
    return loaded


def comparable(value: Any) -> Any:
    """A refusal compared by what a caller acts on (reason and details): format 0 kept no
    message, so one read from it words its message anew."""
    if isinstance(value, Refusal):
        return ("refused", value.reason, dict(value.details))
    if dataclasses.is_dataclass(value):
        return (type(value).__name__, {k: comparable(v) for k, v in vars(value).items()})
    if isinstance(value, tuple | list):
        return [comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    return value


def replayed(state: Any, commands: list[bytes]) -> list[Any]:
    return [state.apply(i + 1, command) for i, command in enumerate(commands)]


def test_kv_replays_the_old_log_and_restores_the_old_snapshot() -> None:
    old = fixture("kv")
    state = KvState()
    answers = replayed(state, old["commands"])
    expected = [kv_results.from_format0(r) for r in old["results"][:-1]]
    assert comparable(answers[:-1]) == comparable(expected)
    # The last command's session seq was already acknowledged: refused then and now.
    assert old["results"][-1] == {"error": "stale_session", "last_seq": 3}
    assert isinstance(answers[-1], Refusal) and answers[-1].reason == errors_pb2.INVALID
    restored = KvState()
    restored.restore(old["snapshot"])
    assert restored.data == state.data and restored.revision == state.revision
    assert restored.fences.highest == state.fences.highest == {"f": 5}
    assert comparable(restored.sessions) == comparable(state.sessions)
    again = KvState()
    again.restore(restored.snapshot())  # and what it writes now, format 1, reads back
    assert comparable(again.sessions) == comparable(state.sessions)
    assert again.data == state.data


def test_lock_replays_the_old_log_and_restores_the_old_snapshot() -> None:
    old = fixture("lock")
    state = LockState()
    answers = replayed(state, old["commands"])
    for answer, was in zip(answers, old["results"], strict=True):
        if "error" in was:
            assert isinstance(answer, Refusal), (answer, was)
            assert errors_pb2.Reason.Name(answer.reason).lower() == _LOCK_REASONS[was["error"]]
        elif "session" in was:
            assert answer == lock_results.SessionCreated(was["session"])
        elif "ttl_ms" in was:
            assert answer == lock_results.KeptAlive(was["ttl_ms"])
        elif "clock" in was:
            assert answer == lock_results.InOffice(was["clock"])
        elif "expired" in was:
            assert answer == lock_results.Expired(tuple(was["expired"]))
        else:
            assert answer == lock_results.from_format0(was)
    restored = LockState()
    restored.restore(old["snapshot"])
    assert comparable(restored.sessions) == comparable(state.sessions)
    assert restored.locks == state.locks and restored.clock_ms == state.clock_ms
    assert restored.ended == state.ended
    again = LockState()
    again.restore(restored.snapshot())
    assert again.snapshot() == restored.snapshot()


_LOCK_REASONS = {
    "not_holder": "not_holder",
    "stale_seq": "invalid",
    "session_expired": "session_expired",
    "unknown_session": "unknown_session",
}


_LOG_REFUSALS = {
    errors_pb2.TOPIC_EXISTS: "exists",
    errors_pb2.FENCED: "fenced",
    errors_pb2.PRODUCER_FENCED: "producer_fenced",
    errors_pb2.OUT_OF_ORDER_SEQUENCE: "out_of_order",
    errors_pb2.UNKNOWN_MEMBER: "unknown_member",
    errors_pb2.ILLEGAL_GENERATION: "illegal_generation",
}


def same_as_format0(answer: Any, was: dict[str, Any]) -> bool:
    """Whether a log state machine's typed answer says what format 0's dict said."""
    if isinstance(answer, Refusal):
        if answer.reason == errors_pb2.TOPIC_EXISTS:  # format 0 gave the topic whole
            return was["error"] == "exists" and answer.details["topic"] == was["topic"][0]
        shared = {k: str(v) for k, v in was.items() if k in answer.details}
        return _LOG_REFUSALS[answer.reason] == was["error"] and shared == {
            k: answer.details[k] for k in shared
        }
    if isinstance(answer, log_results.TopicCreated):
        return answer.topic == TopicMeta.from_format0(was["topic"])
    fields = dataclasses.asdict(answer)
    if fields.get("duplicate") is False:
        del fields["duplicate"]  # format 0 said only a duplicate
    return comparable(fields) == comparable(was)


@pytest.mark.parametrize(
    ("name", "state_machine"),
    [("log_meta", MetaState), ("log_partition", PartitionState), ("log_groups", GroupsState)],
)
def test_the_log_replays_its_old_logs_and_restores_their_snapshots(
    name: str, state_machine: type[Any]
) -> None:
    old = fixture(name)
    state = state_machine()
    answers = replayed(state, old["commands"])
    for answer, was in zip(answers, old["results"], strict=True):
        assert same_as_format0(answer, was), (answer, was)
    restored = state_machine()
    restored.restore(old["snapshot"])
    assert restored.snapshot() == state.snapshot()  # both as format 1 now


@pytest.mark.parametrize("name", ["kv", "lock", "log_meta", "log_partition", "log_groups"])
def test_every_fixture_is_read_whole(name: str) -> None:
    old = fixture(name)
    assert len(old["commands"]) == len(old["results"]) > 5
