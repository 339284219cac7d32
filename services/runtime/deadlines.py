"""How long a handler may still work for its caller."""

from __future__ import annotations

import grpc

DEFAULT_DEADLINE_S = 5.0  # a caller that set no deadline
ANSWER_MARGIN_S = 0.05
ANSWER_MARGIN_SHARE = 0.1  # of the time left: room for a busy machine's scheduling delay


def time_left(context: grpc.aio.ServicerContext) -> float:
    """Seconds the handler may wait. It answers a little before the caller's deadline (50 ms,
    or a tenth of the time left when that is more), so the caller gets the server's
    explanation rather than its own DEADLINE_EXCEEDED, also when the answer is delayed by
    a process waiting for a core."""
    remaining: float | None = context.time_remaining()
    if remaining is None:
        return DEFAULT_DEADLINE_S
    return max(0.0, remaining - max(ANSWER_MARGIN_S, ANSWER_MARGIN_SHARE * remaining))
