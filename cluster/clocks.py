"""Node clocks that can be skewed: libfaketime preloaded into a node's process and steered
through one control file per node, changed while the process runs.

libfaketime (Debian's libfaketime) wraps clock_gettime, time, gettimeofday and the sleeps
of every thread in the process, CLOCK_MONOTONIC included, so the event loop's timers,
the Raft ticks, the lock sessions' and etcd leases' clocks and gRPC's deadlines all see
the skewed clock. With FAKETIME_NO_CACHE it reads the control file (FAKETIME_TIMESTAMP_FILE)
at every clock read, which costs about 5 µs per read: clocks are opt-in per cluster.

A clock is a line: fake = anchor_fake + (real - anchor_real) * rate. Its state lives in
NODE.json beside the control file, so any process (the CLI, a test, an experiment) can
read and change it. A change writes "@FAKE xRATE": libfaketime restarts the process's
clock at FAKE, at the next clock read after the write (within one turn of its event
loop), and runs it at RATE from there. A healthy clock is "+0 x1": real time.

In such a process CLOCK_MONOTONIC reads like the wall clock (libfaketime derives both from
the same start), and a jump back moves it back too, which a real monotonic clock never
does: a jump back is a clock fault no kernel would make, kept because it shows what code
that trusts time to go forward does.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LIBRARY_ENV = "FAULTLAB_LIBFAKETIME"  # a libfaketimeMT.so.1 other than Debian's
LIBRARY_GLOB = "/usr/lib/*/faketime/libfaketimeMT.so.1"  # MT: nodes have threads
HEALTHY_SPEC = "+0 x1"


class ClockError(Exception):
    """A clock fault that cannot be applied, with what to do about it."""


def libfaketime() -> str:
    """The path of the thread-safe libfaketime, or ClockError saying how to get it."""
    chosen = os.environ.get(LIBRARY_ENV)
    if chosen:
        if not Path(chosen).is_file():
            raise ClockError(f"{LIBRARY_ENV}={chosen} is not a file")
        return chosen
    found = sorted(glob.glob(LIBRARY_GLOB))
    if not found:
        raise ClockError(
            "clock faults need libfaketime: `make setup` installs Debian's libfaketime "
            f"(or point {LIBRARY_ENV} at a libfaketimeMT.so.1)"
        )
    return found[0]


@dataclass(frozen=True)
class ClockState:
    """fake = anchor_fake_s + (real - anchor_real_s) * rate, in Unix seconds."""

    anchor_real_s: float = 0.0
    anchor_fake_s: float = 0.0
    rate: float = 1.0

    def at(self, real_s: float) -> float:
        return self.anchor_fake_s + (real_s - self.anchor_real_s) * self.rate

    def offset_s(self, real_s: float) -> float:
        """How far ahead of real time the clock is at `real_s` (negative: behind)."""
        return self.at(real_s) - real_s

    @property
    def healthy(self) -> bool:
        return self.rate == 1.0 and self.anchor_fake_s == self.anchor_real_s

    def describe(self, real_s: float) -> str:
        if self.healthy:
            return "real"
        offset_ms = self.offset_s(real_s) * 1000
        parts = [f"{offset_ms:+.0f}ms"]
        if self.rate != 1.0:
            parts.append(f"x{self.rate:g}")
        return " ".join(parts)


class NodeClock:
    """One node's clock: the control file its process reads, and its state."""

    def __init__(self, folder: Path, node_id: str) -> None:
        self.node_id = node_id
        self.control_path = Path(folder) / f"{node_id}.rc"
        self.state_path = Path(folder) / f"{node_id}.json"

    def process_env(self) -> dict[str, str]:
        """What the node's process is started with. Writes the control file first:
        libfaketime reads it as the process starts."""
        self.reanchor()
        return {
            "LD_PRELOAD": libfaketime(),
            "FAKETIME_TIMESTAMP_FILE": str(self.control_path),
            "FAKETIME_NO_CACHE": "1",  # a change applies at the next clock read
            "FAKETIME_FMT": "%s",  # "@" takes Unix seconds: no time zone involved
            "FAKETIME_DONT_FAKE_MONOTONIC": "0",
        }

    def state(self) -> ClockState:
        try:
            return ClockState(**json.loads(self.state_path.read_text()))
        except FileNotFoundError:
            return ClockState()

    def now_s(self) -> float:
        """The node's clock now, as this file says it runs."""
        return self.state().at(time.time())

    def skew(self, jump_s: float = 0.0, rate: float | None = None) -> ClockState:
        """Step the clock forward (or back, negative) by `jump_s`, and from now on run
        it `rate` times as fast as real time (0.5: half; None: as it runs now)."""
        if rate is not None and not 0.0 < rate <= 100.0:
            raise ClockError(f"a clock rate must be in (0, 100], not {rate:g}")
        real = time.time()
        state = self.state()
        new_rate = state.rate if rate is None else rate
        return self._write(ClockState(real, state.at(real) + jump_s, new_rate))

    def heal(self) -> ClockState:
        """Real time again, at once: a jump back if the clock ran ahead."""
        return self._write(ClockState())

    def reanchor(self) -> None:
        """Restate the clock as of now, so a process started next (its first clock read
        restarts libfaketime's count) continues it rather than replaying it."""
        state = self.state()
        if state.healthy:
            self._write(ClockState())
        else:
            real = time.time()
            self._write(ClockState(real, state.at(real), state.rate))

    def _write(self, state: ClockState) -> ClockState:
        # The real time as a healthy anchor: "+0 x1" needs no anchor at all.
        spec = HEALTHY_SPEC if state.healthy else f"@{state.anchor_fake_s:.6f} x{state.rate:g}"
        self.control_path.parent.mkdir(parents=True, exist_ok=True)
        # libfaketime reads the file at any moment and exits on a line it cannot parse:
        # a half-written file must never be there, so each file is renamed into place.
        _replace(self.state_path, json.dumps(asdict(state)))
        _replace(self.control_path, spec + "\n")
        return state


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def clocks_folder(run_dir: Path) -> Path:
    """Where a cluster run in `run_dir` keeps its nodes' clocks."""
    return Path(run_dir) / "clocks"


def node_clocks(run_dir: Path) -> dict[str, NodeClock]:
    """The skewable clocks of a cluster run in `run_dir`, by node (none: real clocks)."""
    folder = clocks_folder(run_dir)
    return {p.stem: NodeClock(folder, p.stem) for p in sorted(folder.glob("*.rc")) if p.is_file()}
