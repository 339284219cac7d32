"""The cluster a CLI command talks to: the one `faultlab up` or `faultlab compose up`
recorded in the state file; failing that, a compose project of this folder's topology
started with a plain `docker compose up` (cluster/discovery.py), named on stderr. A
command that finds neither prints why and exits 1."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from cluster import state
from cluster.discovery import compose_project_in
from services.runtime.tls import TLS_DIR_ENV

err = Console(stderr=True)


def cluster_state() -> state.ClusterState:
    """The cluster; under TLS, this process's channels then present its client certificate."""
    found = _find()
    if found.tls_dir:
        os.environ[TLS_DIR_ENV] = found.tls_dir
    return found


def _find() -> state.ClusterState:
    try:
        return state.read()
    except state.NoCluster as e:
        found = compose_project_in(Path.cwd())
        if found is None:
            err.print(f"[red]error:[/] {e}")
            raise typer.Exit(1) from e
    err.print(
        f"[dim]talking to compose project {found.compose_project!r} of "
        f"{found.topology_path} (started without faultlab up)[/]"
    )
    return found
