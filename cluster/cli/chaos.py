"""`faultlab chaos list | run NAME | run SCRIPT.py`: the catalogue of failure experiments,
and scenarios people write themselves (chaos/scenario)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chaos.backends import Backend, Compose, local_processes
from chaos.disk.mounts import fuse_unavailable_reason
from chaos.experiments import EXPERIMENTS
from chaos.experiments.base import Experiment, ModeResult, run_mode
from chaos.report import write_report
from chaos.scenario.loading import load_script
from chaos.scenario.model import ScenarioError
from cluster.cli.durations import parse_ms
from cluster.engine import EngineError, reachable_engine
from cluster.images import ImageError, build_images

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@app.command("list")
def list_() -> None:
    """The experiments, with their hypotheses."""
    table = Table("name", "title", "unsafe", "safe", show_lines=True)
    for exp in EXPERIMENTS.values():
        table.add_row(exp.name, exp.title, exp.unsafe.summary, exp.safe.summary)
    console.print(table)


@app.command()
def run(
    name: str = typer.Argument(
        ..., help="an experiment from `faultlab chaos list`, or a scenario script (a .py file)"
    ),
    mode: str = typer.Option("both", help="unsafe, safe or both"),
    duration: str = typer.Option("30s", help="how long each mode runs"),
    seed: int = typer.Option(1, help="seeds the workload's choices"),
    out: Path = typer.Option(Path(".faultlab/chaos"), help="where run folders go"),
    backend: str = typer.Option(
        "processes", help="processes (local) or compose (containers on DOCKER_HOST's engine)"
    ),
    tls: bool = typer.Option(False, "--tls", help="mutual TLS on every connection (processes)"),
) -> None:
    """Run an experiment on a fresh cluster; exit 0 when every mode behaved as hypothesized."""
    exp = _experiment(name)
    if mode not in ("unsafe", "safe", "both"):
        raise typer.BadParameter("--mode is unsafe, safe or both")
    if not exp.modes(mode):
        raise typer.BadParameter(f"{exp.name} has one mode only: run it with --mode safe or both")
    if backend not in ("processes", "compose"):
        raise typer.BadParameter("--backend is processes or compose")
    if exp.lazy_disks and backend == "compose":
        err.print(
            f"[red]error:[/] {exp.name} runs on lazy disks (FUSE under each node's "
            "data), which only the processes backend mounts"
        )
        raise typer.Exit(1)
    if exp.fake_clocks and backend == "compose":
        err.print(
            f"[red]error:[/] {exp.name} skews node clocks with libfaketime preloaded into "
            "each node's process, which only the processes backend does"
        )
        raise typer.Exit(1)
    if exp.lazy_disks and (reason := fuse_unavailable_reason()) is not None:
        err.print(
            f"[red]error:[/] {exp.name} runs on lazy disks, and FUSE cannot be used here: {reason}"
        )
        raise typer.Exit(1)
    duration_s = parse_ms(duration, default_unit="s") / 1000
    if duration_s < 4:
        raise typer.BadParameter("--duration must be at least 4s")
    run_folder = out / f"{exp.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if tls and backend != "processes":
        raise typer.BadParameter("--tls runs on the processes backend")
    chosen = local_processes(tls) if backend == "processes" else _compose_backend()
    console.print(f"[bold]{exp.title}[/]\n{exp.hypothesis}\n")
    results = [_run_one(exp, m.name, duration_s, seed, run_folder, chosen) for m in exp.modes(mode)]
    console.print(_verdicts(results))
    if not all(r.behaved for r in results):
        raise typer.Exit(1)


def _experiment(name: str) -> Experiment:
    """A catalogue entry by name, or the scenario a script defines (refused, with the
    reason, before any cluster starts)."""
    if name.endswith(".py") or Path(name).is_file():
        try:
            return load_script(Path(name)).experiment()
        except ScenarioError as e:
            err.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from None
    exp = EXPERIMENTS.get(name)
    if exp is None:
        err.print(f"[red]error:[/] unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
        raise typer.Exit(2)
    return exp


def _compose_backend() -> Backend:
    """Containers on the engine DOCKER_HOST names, with images built (or pulled) once."""
    try:
        engine = reachable_engine()
        with console.status("building images (pulling where a registry answers)..."):
            images = build_images(engine.client, pull=True)
    except (EngineError, ImageError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    return Compose(engine, images)


def _run_one(
    exp: Experiment,
    mode_name: str,
    duration_s: float,
    seed: int,
    folder: Path,
    backend: Backend,
) -> ModeResult:
    mode = exp.unsafe if mode_name == "unsafe" else exp.safe
    box: dict[str, ModeResult | BaseException] = {}

    def work() -> None:
        try:
            box["result"] = run_mode(exp, mode, duration_s, seed, folder / mode.name, backend)
        except BaseException as e:  # carried to the main thread, raised there
            box["result"] = e

    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{mode.name}: {mode.summary}", total=duration_s + 6)
        # The run goes on in a worker thread so this one can draw progress.
        worker = threading.Thread(target=work, daemon=True)
        started = time.monotonic()
        worker.start()
        while worker.is_alive():
            progress.update(task, completed=min(duration_s + 5, time.monotonic() - started))
            worker.join(0.2)
        progress.update(task, completed=duration_s + 6)
    outcome = box["result"]
    if isinstance(outcome, BaseException):
        raise outcome
    report = write_report(exp, outcome)
    console.print(f"  {outcome.finding.summary}\n  report: {report}")
    return outcome


def _verdicts(results: list[ModeResult]) -> Table:
    table = Table("mode", "anomaly expected", "anomaly found", "as hypothesized", "finding")
    for r in results:
        ok = "[green]yes[/]" if r.behaved else "[red]NO[/]"
        table.add_row(
            r.mode.name, str(r.mode.expect_anomaly), str(r.finding.anomaly), ok, r.finding.summary
        )
    return table
