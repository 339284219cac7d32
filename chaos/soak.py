"""`make soak-chaos`: experiments and random nemesis runs, one after another, until a time
budget is spent; then one table: runs, faults, operations and anomalies per configuration.

    python -m chaos.soak [--budget 30m] [--seed 1] [--out .faultlab/soak] [--only NAME]...

Two kinds of run, drawn at random with random seeds and durations:
- a catalogue experiment in one of its modes, exactly as `faultlab chaos run` runs it:
  the unsafe mode must show its anomaly, the safe one must not;
- a random nemesis run: a catalogue experiment's safe mode (its services, workload and
  checker) under a random timeline of faults instead of its own: partitions into random
  halves, the leader isolated, kill -9 and restart, SIGSTOP and resume, a slow node. The
  safe configuration must hold whatever the faults: no anomaly.

A run that behaved leaves nothing behind; one that did not keeps its folder (history,
report, node logs) under --out. The exit code is 0 when every run behaved.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chaos.experiments import EXPERIMENTS
from chaos.experiments.base import Experiment, Mode, run_mode
from chaos.nemesis import (
    Fault,
    isolate_leader,
    kill_and_restart,
    pause_and_resume,
    random_halves,
    slow_node,
)
from chaos.report import write_report
from cluster.backend import Cluster

# Experiments whose judge is a general checker (linearizability, exactly-once, durability
# of acknowledged records, lock and commit fencing), not a reading of their own fault.
RANDOM_NEMESIS = ("stale-read", "double-apply", "lost-ack", "lock-gc-pause", "zombie-consumer")
FAULT_KINDS = ("halves", "isolate-leader", "kill", "pause", "slow")
console = Console()


@dataclass
class Tally:
    runs: int = 0
    faults: int = 0
    operations: int = 0
    anomalies: int = 0
    misbehaved: list[str] = field(default_factory=list)


def random_faults(cluster: Cluster, rng: random.Random, duration_s: float) -> list[Fault]:
    """One fault after another from 15% to 80% of the run, each 10-20% of it long; a
    fault whose heal ran late (a restart) delays the next, never overlaps it."""
    nodes = [n.id for n in cluster.topology.nodes if n.group != "gateway"]
    groups = sorted({n.group for n in cluster.topology.nodes if n.group != "gateway"})
    faults: list[Fault] = []
    at_s = 0.15 * duration_s
    while at_s < 0.8 * duration_s:
        length_s = rng.uniform(0.1, 0.2) * duration_s
        kind, node = rng.choice(FAULT_KINDS), rng.choice(nodes)
        name = f"{kind}-{len(faults) + 1}"
        if kind == "halves":
            faults.append(random_halves(name, rng, at_s, length_s))
        elif kind == "isolate-leader":
            group = rng.choice(groups)
            faults.append(
                isolate_leader(name, at_s, length_s, "log/meta" if group == "log" else group)
            )
        elif kind == "kill":
            faults.append(kill_and_restart(name, node, at_s, length_s))
        elif kind == "pause":
            faults.append(pause_and_resume(name, node, at_s, length_s))
        else:
            faults.append(slow_node(name, node, rng.choice((50, 100, 200)), at_s, length_s))
        at_s += length_s + rng.uniform(0.03, 0.08) * duration_s
    return [dataclasses.replace(f, exclusive=True) for f in faults]


def under_random_nemesis(exp: Experiment, rng: random.Random) -> Experiment:
    def plan(cluster: Cluster, mode: Mode, duration_s: float) -> tuple[Any, list[Fault]]:
        spec, _ = exp.plan(cluster, mode, duration_s)  # its workload, not its faults
        return spec, random_faults(cluster, rng, duration_s)

    return dataclasses.replace(exp, name=f"{exp.name}+nemesis", plan=plan)


def one_run(rng: random.Random, folder: Path, only: frozenset[str]) -> tuple[str, Any]:
    """Draw a configuration (among `only` when it names some) and run it; returns its name
    and the ModeResult."""
    seed, duration_s = rng.randrange(1, 10**6), round(rng.uniform(6.0, 10.0), 1)
    catalogue = sorted(only or EXPERIMENTS)
    nemesis = [name for name in RANDOM_NEMESIS if not only or name in only]
    if not nemesis or rng.random() < 0.5:
        exp = EXPERIMENTS[rng.choice(catalogue)]
        mode = rng.choice([exp.unsafe, exp.safe])
    else:
        exp = under_random_nemesis(EXPERIMENTS[rng.choice(nemesis)], rng)
        mode = exp.safe
    result = run_mode(exp, mode, duration_s, seed, folder)
    write_report(exp, result)
    return f"{exp.name} {mode.name}", result


def soak(
    budget_s: float, seed: int, out: Path, only: frozenset[str] = frozenset()
) -> dict[str, Tally]:
    rng = random.Random(seed)
    tallies: dict[str, Tally] = {}
    ends_at = time.monotonic() + budget_s
    n = 0
    while time.monotonic() < ends_at:
        n += 1
        folder = out / f"run-{n:04d}"
        try:
            config, result = one_run(rng, folder, only)
        except Exception:  # a run that could not run is a failure, kept with its folder
            tally = tallies.setdefault("(errors)", Tally())
            tally.runs += 1
            tally.misbehaved.append(f"{folder}: {traceback.format_exc(limit=3)}")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "error.txt").write_text(traceback.format_exc())
            error = traceback.format_exc().strip().splitlines()[-1]
            console.print(f"{n:4d} {'(could not run)':40} ERROR: {error[:100]}", highlight=False)
            continue
        tally = tallies.setdefault(config, Tally())
        tally.runs += 1
        tally.faults += len(result.faults)
        tally.operations += (
            result.availability.ok + result.availability.fail + result.availability.info
        )
        tally.anomalies += int(result.finding.anomaly)
        if result.behaved:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            tally.misbehaved.append(f"{folder}: {result.finding.summary}")
        console.print(
            f"{n:4d} {config:40} {'ok' if result.behaved else 'MISBEHAVED'}: "
            f"{result.finding.summary[:100]}",
            highlight=False,
        )
    return tallies


def summary_table(tallies: dict[str, Tally]) -> Table:
    table = Table(
        "configuration",
        "runs",
        "faults",
        "operations",
        "anomalies",
        "as hypothesized",
        title="soak",
    )
    for config in sorted(tallies):
        t = tallies[config]
        ok = t.runs - len(t.misbehaved)
        table.add_row(
            config,
            str(t.runs),
            str(t.faults),
            f"{t.operations:,}",
            str(t.anomalies),
            f"{ok}/{t.runs}" if ok == t.runs else f"[red]{ok}/{t.runs}[/]",
        )
    fields = ("runs", "faults", "operations", "anomalies")
    total = [sum(getattr(t, f) for t in tallies.values()) for f in fields]
    table.add_row("all", str(total[0]), str(total[1]), f"{total[2]:,}", str(total[3]), "")
    return table


def budget_seconds(text: str) -> float:
    """ "45m", "2h", "600s" or "600" (seconds)."""
    units = {"s": 1, "m": 60, "h": 3600}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.soak")
    parser.add_argument("--budget", default="30m", help="how long to keep running (e.g. 45m)")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--out", type=Path, default=Path(".faultlab/soak"))
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        choices=sorted(EXPERIMENTS),
        help="draw only this experiment (repeatable): to dwell on one that misbehaved",
    )
    args = parser.parse_args()
    out = (args.out / time.strftime("%Y%m%d-%H%M%S")).absolute()
    console.print(f"soak: seed {args.seed}, budget {args.budget}, failures kept in {out}")
    tallies = soak(budget_seconds(args.budget), args.seed, out, frozenset(args.only))
    console.print(summary_table(tallies))
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(
        json.dumps({c: dataclasses.asdict(t) for c, t in tallies.items()}, indent=2)
    )
    failures = [line for t in tallies.values() for line in t.misbehaved]
    for line in failures:
        console.print(f"[red]misbehaved:[/] {line}", highlight=False)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
