"""The cluster a CLI command talks to: the one `faultlab up` or `faultlab compose up`
recorded in the state file. A command that finds none prints why and exits 1."""

from __future__ import annotations

import typer
from rich.console import Console

from cluster import state

err = Console(stderr=True)


def cluster_state() -> state.ClusterState:
    try:
        return state.read()
    except state.NoCluster as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
