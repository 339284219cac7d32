"""The simulator's state machine: a map of registers, written by uniquely named commands.

A command is b"<command id> <key> <value>". Applying a command id twice has no effect,
as a client session would ensure, so clients can retry freely.
"""

from __future__ import annotations

import json


class RegisterMachine:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.applied_ids: set[str] = set()
        self.applied_index = 0

    def apply(self, index: int, command: bytes) -> object:
        self.applied_index = index
        if not command:
            return None  # a leader's no-op
        cmd_id, key, value = command.decode().split(" ", 2)
        if cmd_id not in self.applied_ids:
            self.applied_ids.add(cmd_id)
            self.values[key] = value
        return None

    def snapshot(self) -> bytes:
        state = {
            "values": self.values,
            "ids": sorted(self.applied_ids),
            "index": self.applied_index,
        }
        return json.dumps(state).encode()

    def restore(self, data: bytes) -> None:
        state = json.loads(data)
        self.values = dict(state["values"])
        self.applied_ids = set(state["ids"])
        self.applied_index = state["index"]
