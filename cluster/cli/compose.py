"""`faultlab compose render`: write docker-compose.yml and toxiproxy.json from a topology."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cluster.compose import render_compose, render_toxiproxy
from services.runtime.topology import Topology, TopologyError

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command()
def render(
    topology: Path = typer.Option(Path("topology.toml"), "--topology", "-t"),
    out: Path = typer.Option(Path("."), help="the folder to write into"),
) -> None:
    """Render docker-compose.yml and toxiproxy.json (the Toxiproxy container's proxies)."""
    try:
        topo = Topology.from_file(topology)
    except TopologyError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    if not topo.resolved:
        console.print("[red]error:[/] containers need fixed ports: set cluster.base_port")
        raise typer.Exit(2)
    (out / "docker-compose.yml").write_text(render_compose(topo))
    (out / "toxiproxy.json").write_text(render_toxiproxy(topo))
    console.print(f"wrote {out / 'docker-compose.yml'} and {out / 'toxiproxy.json'}")
