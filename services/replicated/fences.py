"""Fencing tokens as a store checks them (Kleppmann's fencing; Chubby's sequencers): per
fence name, the highest token seen. A write carrying a lower one comes from a holder
whose lock has since been granted again, and is refused; any other token becomes the
highest. Part of a state machine, so every replica refuses the same writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from faultlab.errors.v1 import errors_pb2

from services.replicated.refusal import Refusal


@dataclass(frozen=True)
class Fence:
    """A write's fence: the lock (or other) name and the token its holder was granted."""

    name: str
    token: int

    def to_wire(self) -> list[Any]:
        return [self.name, self.token]

    @classmethod
    def from_wire(cls, wire: Sequence[Any] | None) -> Fence | None:
        return None if not wire else cls(wire[0], wire[1])


def fenced(fence: Fence, highest: int) -> Refusal:
    return Refusal(
        errors_pb2.FENCED,
        f"fencing token {fence.token} for {fence.name!r} is below the highest seen, "
        f"{highest}; nothing was written",
        {"highest_token": str(highest)},
    )


class Fences:
    def __init__(self) -> None:
        self.highest: dict[str, int] = {}

    def refuse(self, fence: Fence) -> Refusal | None:
        """The refusal of a stale token, or None (and the token is now the highest seen)."""
        highest = self.highest.get(fence.name, 0)
        if fence.token < highest:
            return fenced(fence, highest)
        self.highest[fence.name] = fence.token
        return None

    def snapshot(self) -> dict[str, int]:
        return dict(self.highest)

    def restore(self, highest: dict[str, int]) -> None:
        self.highest = dict(highest)
