"""`Refusal`: a state machine's answer when it refuses a command (and changes nothing),
and the one place a refusal becomes an error of the tree (services/runtime/errors.py).

A state machine builds each refusal in one function, with the message and the facts the
caller gets (ErrorInfo metadata); the servicer raises `refusal.error()`. Refusals are
deterministic like everything else a state machine returns: a client's retry gets the
first answer from the session cache, message included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from services.replicated.codec import Tagged
from services.runtime import errors

# Reasons whose error takes (message, **details): the ones a state machine can use.
# NOT_LEADER and RATE_LIMITED are decided outside any state machine.
_ERROR_FOR_REASON: dict[int, type[errors.ServiceError]] = {
    cls.reason: cls
    for cls in errors.ServiceError.__subclasses__()
    if cls not in (errors.NotLeader, errors.RateLimited)
}


@dataclasses.dataclass(frozen=True)
class Refusal(Tagged):
    TAG = "refused"

    reason: int  # faultlab.errors.v1.Reason
    message: str
    details: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def error(self) -> errors.ServiceError:
        """The error the caller gets: one class per reason, definite by the tree's rule."""
        return _ERROR_FOR_REASON[self.reason](self.message, **self.details)

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Refusal:
        return cls(m["reason"], m["message"], dict(m.get("details", {})))


def can_refuse_with(reason: int) -> bool:
    return reason in _ERROR_FOR_REASON


R = TypeVar("R")


def answered(applied: object, answer: type[R]) -> R:
    """What a state machine returned for a command: the `answer` it gives when it applies
    the command, or its Refusal raised as the error the caller gets."""
    if isinstance(applied, Refusal):
        raise applied.error()
    if not isinstance(applied, answer):
        raise AssertionError(f"expected {answer.__name__}, the state machine gave {applied!r}")
    return applied
