"""How a replicated service's commands travel through its Raft log: msgpack maps, bytes
kept as bytes."""

from __future__ import annotations

from typing import Any

import msgpack


def encode(command: dict[str, Any]) -> bytes:
    out: bytes = msgpack.packb(command, use_bin_type=True)
    return out


def decode(data: bytes) -> dict[str, Any]:
    command: dict[str, Any] = msgpack.unpackb(data, raw=False)
    return command
