"""A client process of an experiment's own (a lock holder, a group consumer), as the
parent holds it: so that a pause is a real SIGSTOP of that client and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from cluster import processes


class ChildProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pause(self) -> None:
        """SIGSTOP; returns once it has stopped (cluster/processes.py says why)."""
        processes.stop(self.pid)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()  # SIGKILL ends a stopped process too

    async def reap(self) -> None:
        """Killed if it still runs, and waited for: nothing outlives its run."""
        if self.proc.returncode is None:
            self.kill()
            await self.proc.wait()
