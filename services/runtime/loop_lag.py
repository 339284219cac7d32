"""How late this process's event loop runs what is due: the time a task waited for a core
(or for other tasks) beyond its timer. A check of a wall-clock bound made inside the
process ("a decision takes at most its budget") adds the lag seen around it, so a busy
machine cannot fail the bound while the code kept it.

    lag = LoopLag(); task = asyncio.create_task(lag.run())
    lag.recent_max_ms()   # the worst lateness of a 10 ms timer over the last second
"""

from __future__ import annotations

import asyncio
import collections

INTERVAL_S = 0.01
WINDOW_S = 1.0


class LoopLag:
    def __init__(self, interval_s: float = INTERVAL_S, window_s: float = WINDOW_S) -> None:
        self.interval_s = interval_s
        self.window_s = window_s
        self._seen: collections.deque[tuple[float, float]] = collections.deque()  # (at, late)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = loop.time()
            self._seen.append((now, max(0.0, now - due)))
            while self._seen and self._seen[0][0] < now - self.window_s:
                self._seen.popleft()

    def recent_max_ms(self) -> float:
        return max((late for _, late in self._seen), default=0.0) * 1000
