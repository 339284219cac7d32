"""How long a handler may still work for its caller."""

from __future__ import annotations

import grpc

DEFAULT_DEADLINE_S = 5.0  # a caller that set no deadline
ANSWER_MARGIN_S = 0.05


def time_left(context: grpc.aio.ServicerContext) -> float:
    """Seconds the handler may wait. It answers a little before the caller's deadline, so
    the caller gets the server's explanation rather than its own DEADLINE_EXCEEDED."""
    remaining = context.time_remaining()
    return DEFAULT_DEADLINE_S if remaining is None else max(0.0, remaining - ANSWER_MARGIN_S)
