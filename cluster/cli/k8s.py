"""`faultlab k8s ...`: Kubernetes manifests for the topology, as a kustomize base, and
their validation against real schemas (cluster/k8s.py, cluster/k8s_validate.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cluster.cli.durations import parse_ms
from cluster.cli.topology_file import load_topology
from cluster.k8s import BASE_PORT, KUSTOMIZATION, PEERS, render
from cluster.k8s_validate import ValidatorMissing, validate
from services.runtime.topology import Topology

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

TopologyOption = typer.Option(Path("topology.toml"), "--topology", "-t")
OutOption = typer.Option(Path("k8s"), "--out", "-o", help="the folder to write into")


def _topology(path: Path) -> Topology:
    # Each pod has an address of its own: any block of ports will do.
    topo = load_topology(path)
    return topo if topo.resolved else topo.with_base_port(BASE_PORT)


CHAOS_MESH = "chaos-mesh"


@app.command("render")
def render_command(
    topology: Path = TopologyOption,
    out: Path = OutOption,
    peers: str = typer.Option(
        PEERS[0], help="direct (Chaos Mesh's network faults reach them) or toxiproxy"
    ),
    chaos_duration: str = typer.Option(
        "60s", help="the run the Chaos Mesh timelines are laid out for"
    ),
) -> None:
    """Write the kustomize base (a StatefulSet, headless Service and PodDisruptionBudget
    per group, Toxiproxy and its proxies, the topology; `kubectl apply -k OUT`) and, in
    OUT/chaos-mesh, each catalogue experiment's faults as Chaos Mesh Workflows."""
    if peers not in PEERS:
        err.print(f"[red]error:[/] --peers is one of {', '.join(PEERS)}, not {peers!r}")
        raise typer.Exit(2)
    duration_s = parse_ms(chaos_duration, default_unit="s") / 1000  # BadParameter: exit 2
    files = render(_topology(topology), out, peers)
    console.print(f"wrote {len(files)} manifests and {out / KUSTOMIZATION}")
    from chaos.chaos_mesh.render import render_catalogue  # the catalogue: only here
    from chaos.experiments import EXPERIMENTS

    workflows, skipped = render_catalogue(EXPERIMENTS, out / CHAOS_MESH, duration_s)
    console.print(f"wrote {len(workflows)} Chaos Mesh timelines in {out / CHAOS_MESH}")
    for name, why in skipped.items():
        console.print(f"  [yellow]not for Chaos Mesh:[/] {name}: {why}")


@app.command("validate")
def validate_command(
    folder: Path = typer.Argument(Path("k8s"), help="a folder of manifests"),
) -> None:
    """kubeconform -strict over every manifest in FOLDER and FOLDER/chaos-mesh, offline:
    Kubernetes' schemas, and Chaos Mesh's CRDs for its resources."""
    files = sorted(p for p in folder.glob("*.yaml") if p.name != KUSTOMIZATION)
    files += sorted((folder / CHAOS_MESH).glob("*.yaml"))
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
