"""One stub per (channel, service), kept while the channel lives.

A generated stub builds a multi-callable for every method of its service when it is
made: the log client made one per produce call, which py-spy put at a tenth of the
client's CPU at 64 partitions (bench/partitions.py). Keyed weakly, so a closed and
dropped channel takes its stubs with it."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

S = TypeVar("S")

_STUBS: weakref.WeakKeyDictionary[grpc.aio.Channel, dict[Any, Any]] = weakref.WeakKeyDictionary()


def stub(channel: grpc.aio.Channel, make: Callable[[grpc.aio.Channel], S]) -> S:
    """The stub `make` builds for `channel`, made the first time it is asked for."""
    per_channel = _STUBS.get(channel)
    if per_channel is None:
        per_channel = _STUBS[channel] = {}
    made: S | None = per_channel.get(make)
    if made is None:
        made = per_channel[make] = make(channel)
    return made
