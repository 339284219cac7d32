"""Child processes that die with their parent.

Every process the launcher starts asks the kernel (PR_SET_PDEATHSIG) to SIGKILL it when
the thread that started it exits, so a launcher killed with -9 leaves no orphan. That
ties children to the starting *thread*, so `LocalCluster` starts all of them from one
thread of its own that lives as long as the cluster.

The death signal is set by util-linux's `setpriv --pdeathsig KILL`, which sets it and then
execs the real program. Not by `preexec_fn`: that runs Python in the child between fork
and exec, which can deadlock when the parent has other threads (gRPC always does), and a
child stuck there never starts (Python's subprocess documentation warns of exactly this).
Without setpriv (not Linux), children start without a death signal, and `close()` and the
interpreter-exit hook remain the only clean-up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cluster.waiting import wait_until

_SETPRIV = shutil.which("setpriv")


def _with_death_signal(argv: Sequence[str]) -> list[str]:
    if _SETPRIV is None:
        return list(argv)
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]


def spawn(
    argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session (Ctrl-C reaches only the launcher), logging to a file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            _with_death_signal(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )


class Spawner:
    """Starts every child from one thread of its own, which lives until `close()`: a
    child dies with the thread that started it, so any thread may ask for a child
    without shortening its life to that thread's."""

    def __init__(self) -> None:
        self._thread: ThreadPoolExecutor | None = None

    def spawn(
        self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faultlab-spawn")
        return self._thread.submit(spawn, argv, log_path, env).result()

    def close(self) -> None:
        """Ends the thread: any child still running gets its death signal now."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None


def terminate(proc: subprocess.Popen[bytes], grace_s: float) -> int:
    """SIGTERM (after SIGCONT, so a paused process can act on it), then SIGKILL after grace."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    return kill(proc)


def kill(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.kill()
    return proc.wait()


def stop(pid: int, timeout_s: float = 5.0) -> None:
    """SIGSTOP `pid`, and return only once every thread of it has stopped: kill() returns
    when the signal is sent, and on a busy machine a thread may run on for a while after
    (a Go client did: it read the parent's next line and sent the write the pause was
    aimed at before it stopped)."""
    os.kill(pid, signal.SIGSTOP)
    wait_until(lambda: _stopped(pid), timeout_s, f"process {pid} to stop", interval_s=0.001)


def _stopped(pid: int) -> bool:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks]
    except OSError:  # gone, or a thread exited as we looked
        return not Path(f"/proc/{pid}").exists()
    return all(state in ("T", "t", "Z") for state in states)


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
