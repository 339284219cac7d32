"""The seam between Raft and a service: what a replicated state machine implements."""

from __future__ import annotations

from typing import Protocol


class StateMachine(Protocol):
    def apply(self, index: int, command: bytes) -> object:
        """Apply one committed command; the result goes back to whoever proposed it.
        Must be deterministic: every replica applies the same commands in the same order."""

    def snapshot(self) -> bytes:
        """The whole state as of the last applied index."""

    def restore(self, data: bytes) -> None:
        """Replace the whole state by a snapshot's."""
