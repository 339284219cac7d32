"""LoopLag sees the event loop held up, and forgets it after its window."""

from __future__ import annotations

import asyncio
import time

from services.runtime.loop_lag import LoopLag


async def test_a_blocked_loop_shows_as_lag_and_is_forgotten_after_the_window() -> None:
    lag = LoopLag(interval_s=0.005, window_s=0.3)
    task = asyncio.create_task(lag.run())
    try:
        await asyncio.sleep(0.02)
        time.sleep(0.4)  # the whole loop waits, as it does for a core on a busy machine
        await asyncio.sleep(0.02)
        held_up_ms = lag.recent_max_ms()
        assert held_up_ms >= 350
        await asyncio.sleep(0.5)
        assert lag.recent_max_ms() < held_up_ms  # that hold-up left the window
    finally:
        task.cancel()
