"""`faultlab ui`: serve the page for the running cluster (cluster/cli/ui/server.py)."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import typer
from rich.console import Console

from cluster.cli.current import cluster_state

DEFAULT_PORT = 8089
console = Console()
err = Console(stderr=True)


def url(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> str:
    return f"http://{host}:{port}/"


def ui(
    port: int = typer.Option(DEFAULT_PORT, help="the port to serve the page on"),
    host: str = typer.Option("127.0.0.1", help="the address to bind (keep it local)"),
    hz: float = typer.Option(4.0, help="state updates a second"),
    runs: Path = typer.Option(
        Path(".faultlab/chaos"), help="where experiment runs go (as `faultlab chaos run --out`)"
    ),
) -> None:
    """Serve the lab in a browser: live cluster, links, controls and the event log."""
    st = cluster_state()
    if not 0.2 <= hz <= 20:
        raise typer.BadParameter("--hz is between 0.2 and 20 updates a second")
    _check_free(host, port)
    from cluster.cli.ui.server import serve  # aiohttp, only for this command

    console.print(f"faultlab ui: {url(host, port)}  (Ctrl-C stops it)")
    serve(st, runs.resolve(), host, port, hz)


def _check_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            why = "is in use" if e.errno == errno.EADDRINUSE else f"cannot be bound ({e})"
            err.print(f"[red]error:[/] {host}:{port} {why}: pick another with --port")
            raise typer.Exit(1) from e
