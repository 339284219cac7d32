"""Experiments from the page: the catalogue, a run started as `faultlab chaos run` in a
process of its own (so the page runs exactly what the CLI runs, and a run that fails
cannot take the server down), and the run folders under the runs folder (the CLI's
`--out`, .faultlab/chaos by default), with their reports and histories.

A run folder is RUNS/NAME-YYYYmmdd-HHMMSS/MODE/ (report.md, timeline.png, history.jsonl,
journal.json, summary.json): what `faultlab chaos run` writes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import markdown

from chaos.experiments import EXPERIMENTS
from chaos.history import NEMESIS, History, Operation, pair

RUN_NAME = re.compile(r"^[a-z0-9-]+-\d{8}-\d{6}$")
MODES = ("unsafe", "safe")
FILES = ("report.md", "timeline.png", "history.jsonl", "journal.json", "summary.json")
MAX_TIMELINE_OPS = 20_000  # drawn on a canvas; a longer history is sampled evenly
MIN_DURATION_S, MAX_DURATION_S = 4, 300
SETUP_S = 6  # what a mode takes beyond its duration (cluster start, final reads)


class RunError(Exception):
    """A run the page may not start or a folder it may not read; `status` as in actions."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def catalogue() -> list[dict[str, Any]]:
    return [
        {
            "name": e.name,
            "title": e.title,
            "hypothesis": e.hypothesis,
            "modes": [m.name for m in e.modes("both")],
            "unsafe": e.unsafe.summary,
            "safe": e.safe.summary,
        }
        for e in EXPERIMENTS.values()
    ]


@dataclass
class Running:
    """The run in progress (one at a time: each starts a cluster of its own)."""

    name: str
    folder: Path
    expected_s: float
    started_s: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    exit_code: int | None = None
    proc: asyncio.subprocess.Process | None = None
    follower: asyncio.Task[None] | None = None


class Runs:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.current: Running | None = None

    def check(self, request: dict[str, Any]) -> tuple[str, str, int, int]:
        """(experiment, mode, duration_s, seed) from a request, or a RunError."""
        name, mode = request.get("name"), request.get("mode", "both")
        duration, seed = request.get("duration_s", 12), request.get("seed", 1)
        if name not in EXPERIMENTS:
            raise RunError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
        if mode not in (*MODES, "both") or not EXPERIMENTS[str(name)].modes(str(mode)):
            raise RunError(f"mode is unsafe, safe or both (one this experiment has), not {mode!r}")
        if not _whole(duration) or not MIN_DURATION_S <= duration <= MAX_DURATION_S:
            raise RunError(
                f"duration_s is a whole number from {MIN_DURATION_S} to {MAX_DURATION_S}"
            )
        if not _whole(seed):
            raise RunError("seed is a whole number")
        if self.current is not None and self.current.exit_code is None:
            raise RunError(f"{self.current.name} is running; one run at a time", 409)
        return str(name), str(mode), int(duration), int(seed)

    async def start(
        self, request: dict[str, Any], on_line: Callable[[Running, str | None], None]
    ) -> Running:
        """Start `faultlab chaos run` for `request`; `on_line` hears each line it prints,
        then None once it has exited."""
        name, mode, duration_s, seed = self.check(request)
        self.folder.mkdir(parents=True, exist_ok=True)
        before = set(self.folder.iterdir())
        args = [sys.executable, "-m", "cluster", "chaos", "run", name, "--mode", mode]
        args += ["--duration", f"{duration_s}s", "--seed", str(seed), "--out", str(self.folder)]
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "120", "TERM": "dumb", "NO_COLOR": "1"},
        )
        modes = 2 if mode == "both" else 1
        running = Running(name, self.folder, modes * (duration_s + SETUP_S), proc=proc)
        self.current = running
        running.follower = asyncio.create_task(self._follow(proc, running, before, on_line))
        return running

    async def stop(self) -> None:
        """End a run in progress (the server is stopping): its process and its cluster."""
        running = self.current
        if running is None or running.proc is None or running.exit_code is not None:
            return
        running.proc.terminate()  # its cluster's processes die with it (PR_SET_PDEATHSIG)
        await asyncio.gather(*(t for t in [running.follower] if t), return_exceptions=True)

    async def _follow(
        self,
        proc: asyncio.subprocess.Process,
        running: Running,
        before: set[Path],
        on_line: Callable[[Running, str | None], None],
    ) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line.strip():
                running.lines.append(line)
                on_line(running, line)
        running.exit_code = await proc.wait()
        made = sorted(set(self.folder.iterdir()) - before)
        if made:
            running.folder = made[-1]
        on_line(running, None)

    def past(self) -> list[dict[str, Any]]:
        """Every mode of every run folder, newest first."""
        out: list[dict[str, Any]] = []
        if not self.folder.is_dir():
            return out
        for run in sorted(self.folder.iterdir(), reverse=True):
            if not RUN_NAME.match(run.name):
                continue
            for mode in MODES:
                summary = run / mode / "summary.json"
                if summary.is_file():
                    data = json.loads(summary.read_text())
                    out.append(
                        {
                            "run": run.name,
                            "mode": mode,
                            "experiment": data.get("experiment"),
                            "anomaly": data.get("anomaly"),
                            "behaved": data.get("behaved_as_hypothesized"),
                            "finding": data.get("finding"),
                        }
                    )
        return out

    def path(self, run: str, mode: str, name: str) -> Path:
        """A file of a run folder, refused unless it is one the page shows."""
        if not RUN_NAME.match(run) or mode not in MODES or name not in FILES:
            raise RunError(f"no such run file: {run}/{mode}/{name}", 404)
        found = self.folder / run / mode / name
        if not found.is_file():
            raise RunError(f"no such run file: {run}/{mode}/{name}", 404)
        return found

    def report_html(self, run: str, mode: str) -> str:
        text = self.path(run, mode, "report.md").read_text()
        html: str = markdown.markdown(text, extensions=["tables", "fenced_code"])
        return html

    def timeline(self, run: str, mode: str) -> dict[str, Any]:
        """The history as Jepsen draws it: one lane per client process, each operation a
        bar from invoke to completion (ok, fail, or info: unknown), the fault windows, and
        the operations the checker blamed (summary.json's "flagged")."""
        history = History.load(self.path(run, mode, "history.jsonl"))
        summary = json.loads(self.path(run, mode, "summary.json").read_text())
        blamed = {(f["process"], f["start_ns"]) for f in summary.get("flagged", [])}
        ops = [op for op in pair(history.events) if op.process != NEMESIS]
        step = max(1, len(ops) // MAX_TIMELINE_OPS)
        end_ns = max((e.time_ns for e in history.events), default=0)

        def shown(op: Operation) -> dict[str, Any]:
            return {
                "process": op.process,
                "f": op.f,
                "key": op.key,
                "outcome": op.outcome,
                "start_s": op.start_ns / 1e9,
                "end_s": (op.end_ns if op.end_ns is not None else end_ns) / 1e9,
                "input": _shown(op.input),
                "output": _shown(op.output),
            }

        return {
            "duration_s": end_ns / 1e9,
            "sampled_every": step,
            "operations": [shown(op) for op in ops[::step]],
            # What the checker blamed, every one of them however the rest was sampled.
            "flagged": [shown(op) for op in ops if (op.process, op.start_ns) in blamed],
            "finding": summary.get("finding", ""),
            "faults": [
                {"name": name, "start_s": start, "end_s": end}
                for name, start, end in history.fault_windows()
            ],
        }


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
