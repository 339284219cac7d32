"""The topology file a command was pointed at, or one clear line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from services.runtime.topology import Topology, TopologyError


def load_topology(path: Path) -> Topology:
    try:
        return Topology.from_file(path)
    except TopologyError as e:
        Console(stderr=True).print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
