"""One stub per (channel, service), kept on the channel itself.

A generated stub builds a multi-callable for every method of its service when it is
made: the log client made one per produce call, which py-spy put at a tenth of the
client's CPU at 64 partitions (bench/partitions.py). The stubs hang on their channel, so
they go when it does (a stub refers to its channel: kept in a table keyed by the
channel, even weakly, they would keep every channel alive)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc

S = TypeVar("S")

_ATTRIBUTE = "_faultlab_stubs"


def stub(channel: grpc.aio.Channel, make: Callable[[grpc.aio.Channel], S]) -> S:
    """The stub `make` builds for `channel`, made the first time it is asked for."""
    per_channel: dict[Any, Any] | None = getattr(channel, _ATTRIBUTE, None)
    if per_channel is None:
        per_channel = {}
        setattr(channel, _ATTRIBUTE, per_channel)
    made: S | None = per_channel.get(make)
    if made is None:
        made = per_channel[make] = make(channel)
    return made
