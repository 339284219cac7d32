"""Fencing tokens as a store checks them (Kleppmann's fencing; Chubby's sequencers): per
fence name, the highest token seen. A write carrying a lower one comes from a holder
whose lock has since been granted again, and is refused; any other token becomes the
highest. Part of a state machine, so every replica refuses the same writes."""

from __future__ import annotations

from typing import Any


class Fences:
    def __init__(self) -> None:
        self.highest: dict[str, int] = {}

    def refuse(self, fence: list[Any] | tuple[str, int]) -> dict[str, Any] | None:
        """The refusal of a stale token, or None (and the token is now the highest seen)."""
        name, token = fence
        highest = self.highest.get(name, 0)
        if token < highest:
            return {"error": "fenced", "highest_token": highest}
        self.highest[name] = token
        return None

    def snapshot(self) -> dict[str, int]:
        return dict(self.highest)

    def restore(self, highest: dict[str, int]) -> None:
        self.highest = dict(highest)
