"""The one place where KV and Raft failures become gRPC status codes.

InvalidRequest   -> INVALID_ARGUMENT     bad input; nothing was proposed
NotLeader        -> FAILED_PRECONDITION  with trailing metadata leader-id, leader-address
Fenced           -> FAILED_PRECONDITION  a higher fencing token was already seen
ProposalDropped  -> UNAVAILABLE          refused or lost: certainly not applied
TimeoutError     -> UNAVAILABLE          no quorum before the deadline: may be applied
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import grpc

from services.kv.commands import InvalidRequest
from services.raft.errors import NotLeader, ProposalDropped

REASON = "reason"
NOT_LEADER = "not-leader"
LEADER_ID = "leader-id"
LEADER_ADDRESS = "leader-address"
DEFAULT_DEADLINE_S = 5.0


class Fenced(Exception):
    """A fenced write whose token is lower than one already seen."""


def time_left(context: grpc.aio.ServicerContext) -> float:
    remaining = context.time_remaining()
    # Answer a little before the caller's deadline, so it gets our UNAVAILABLE (with its
    # explanation) rather than its own DEADLINE_EXCEEDED.
    return DEFAULT_DEADLINE_S if remaining is None else max(0.0, remaining - 0.05)


@asynccontextmanager
async def status_on_error(
    context: grpc.aio.ServicerContext, leader_address: Callable[[str], str]
) -> AsyncIterator[None]:
    try:
        yield
    except InvalidRequest as e:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
    except NotLeader as e:
        metadata: tuple[tuple[str, str], ...] = ((REASON, NOT_LEADER),)
        if e.leader_hint:
            hint = ((LEADER_ID, e.leader_hint), (LEADER_ADDRESS, leader_address(e.leader_hint)))
            metadata += hint
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e), metadata)
    except Fenced as e:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
    except ProposalDropped as e:
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"not applied: {e}")
    except TimeoutError:
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            "no quorum answered before the deadline; the write may still be applied",
        )
