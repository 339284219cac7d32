"""`faultlab k8s ...`: Kubernetes manifests for the topology, as a kustomize base, and
their validation against real schemas (cluster/k8s.py, cluster/k8s_validate.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cluster.k8s import KUSTOMIZATION, render
from cluster.k8s_validate import ValidatorMissing, validate
from services.runtime.topology import Topology, TopologyError

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

TopologyOption = typer.Option(Path("topology.toml"), "--topology", "-t")
OutOption = typer.Option(Path("k8s"), "--out", "-o", help="the folder to write into")


def _topology(path: Path) -> Topology:
    try:
        topo = Topology.from_file(path)
    except TopologyError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    return topo if topo.resolved else topo.with_base_port(21000)


@app.command("render")
def render_command(topology: Path = TopologyOption, out: Path = OutOption) -> None:
    """Write the kustomize base: a StatefulSet, headless Service and PodDisruptionBudget
    per group, Toxiproxy and its proxies, the topology; `kubectl apply -k OUT`."""
    files = render(_topology(topology), out)
    console.print(f"wrote {len(files)} manifests and {out / KUSTOMIZATION}")


@app.command("validate")
def validate_command(
    folder: Path = typer.Argument(Path("k8s"), help="a folder of manifests"),
) -> None:
    """kubeconform -strict over every manifest in FOLDER, offline."""
    files = sorted(p for p in folder.glob("*.yaml") if p.name != KUSTOMIZATION)
    if not files:
        err.print(f"[red]error:[/] no manifests in {folder}")
        raise typer.Exit(2)
    try:
        result = validate(files)
    except ValidatorMissing as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    console.print(result.output.rstrip())
    if not result.ok:
        raise typer.Exit(1)
