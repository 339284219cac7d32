"""Waiting for a condition with a deadline: the only way this project waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not hold before the deadline; the message says which."""


def wait_until(
    condition: Callable[[], T | None],
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
) -> T:
    """Poll `condition` until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout_s:.1f}s waiting for {what}")
        time.sleep(interval_s)


async def wait_until_async(
    condition: Callable[[], Awaitable[T | None]],
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
) -> T:
    """The asyncio twin of `wait_until`: the condition is awaited."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout_s:.1f}s waiting for {what}")
        await asyncio.sleep(interval_s)
