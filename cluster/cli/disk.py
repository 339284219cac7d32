"""`faultlab disk ...`: slow or failing disks under a cluster started with `faultlab up
--lazy-disks`, and what each disk holds that a power cut would take."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from chaos.disk.control import DiskControl, DiskControlError
from chaos.disk.finding import disk_controls
from cluster.cli.current import cluster_state
from cluster.cli.durations import parse_ms

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _controls(node: str | None) -> dict[str, DiskControl]:
    controls = disk_controls(Path(cluster_state().run_dir))
    if not controls:
        err.print(
            "[red]error:[/] this cluster runs on plain disks; start it with "
            "`faultlab up --lazy-disks` for disk faults"
        )
        raise typer.Exit(1)
    if node is None:
        return controls
    if node not in controls:
        err.print(f"[red]error:[/] {node} has no lazy disk (disks: {', '.join(controls)})")
        raise typer.Exit(1)
    return {node: controls[node]}


def _each(node: str | None, action: str, fn: Callable[[DiskControl], Any]) -> None:
    for name, control in _controls(node).items():
        try:
            fn(control)
        except DiskControlError as e:
            err.print(f"[red]error:[/] {name}: {e}")
            raise typer.Exit(1) from e
        console.print(f"{action}: {name}")


@app.command()
def status() -> None:
    """What each disk would lose in a power cut, and its faults."""
    console.print(disks_table(_controls(None)))


@app.command()
def slow(
    node: str,
    fsync: str = typer.Option("0ms", help="added to every fsync, e.g. 100ms"),
    write: str = typer.Option("0ms", help="added to every write"),
) -> None:
    """A slow disk: every fsync (and write) on NODE's disk takes this much longer."""
    ms = {"fsync_delay_ms": parse_ms(fsync), "write_delay_ms": parse_ms(write)}
    _each(node, "slowed", lambda c: c.set_faults(**ms))


@app.command()
def fail(
    node: str,
    fsync: bool = typer.Option(True, help="every fsync fails with EIO"),
    write: bool = typer.Option(False, help="every write fails with EIO"),
) -> None:
    """A failing disk: EIO from every fsync (and write) on NODE's disk. The node stops at
    its next fsync rather than acknowledge what it could not make durable."""
    _each(node, "failing", lambda c: c.set_faults(fsync_error=fsync, write_error=write))


@app.command()
def heal(node: str | None = typer.Argument(None, help="one node; default: every disk")) -> None:
    """Remove every disk fault."""
    _each(node, "healed", lambda c: c.clear_faults())


def disks_table(controls: dict[str, DiskControl]) -> Table:
    table = Table(title="lazy disks (what a power cut would take)")
    for col in (
        "node",
        "un-fsynced files",
        "un-fsynced bytes",
        "un-fsynced entries",
        "faults",
        "power cuts",
    ):
        table.add_column(col)
    for node, control in controls.items():
        try:
            s = control.status()
        except DiskControlError as e:
            table.add_row(node, f"[red]{e}[/]", "", "", "", "")
            continue
        table.add_row(
            node,
            str(s["unsynced_files"]),
            str(s["unsynced_bytes"]),
            str(len(s["unsynced_entries"])),
            faults_text(s["faults"]),
            str(s["counters"]["power_cuts"]),
        )
    return table


def faults_text(faults: dict[str, Any]) -> str:
    shown = [
        f"{what} +{faults[key]:g} ms"
        for what, key in (("fsync", "fsync_delay_ms"), ("write", "write_delay_ms"))
        if faults[key]
    ]
    shown += [
        f"{what} EIO"
        for what, key in (("fsync", "fsync_error"), ("write", "write_error"))
        if faults[key]
    ]
    return ", ".join(shown) or "none"
