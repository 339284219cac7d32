"""`faultlab clock ...`: skew a node's clock (a jump, a rate) and heal it, on a cluster
started with `faultlab up --clocks` (cluster/clocks.py)."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.console import Console

from cluster.cli.current import cluster_state
from cluster.clocks import ClockError, NodeClock, node_clocks

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

_JUMP = re.compile(r"^([+-])(\d+(?:\.\d+)?)(ms|s|m)$")
_RATE = re.compile(r"^x(\d+(?:\.\d+)?)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0}


def parse_skew(words: list[str]) -> tuple[float, float | None]:
    """("+500ms", "x0.5") -> (0.5, 0.5): a jump in seconds and a new rate, either left out."""
    jump_s, rate = 0.0, None
    for word in words:
        if m := _JUMP.match(word):
            sign = -1.0 if m.group(1) == "-" else 1.0
            jump_s += sign * float(m.group(2)) * _UNIT_S[m.group(3)]
        elif m := _RATE.match(word):
            rate = float(m.group(1))
        else:
            raise typer.BadParameter(
                f"{word!r}: write a jump like +500ms, -2s or +1m, or a rate like x0.5 or x2"
            )
    return jump_s, rate


def _clocks(node: str | None) -> dict[str, NodeClock]:
    st = cluster_state()
    if st.on_docker:
        err.print(
            "[red]error:[/] clock faults run on the process backend only: they preload "
            "libfaketime into each node's process, and the node images do not carry it"
        )
        raise typer.Exit(1)
    clocks = node_clocks(Path(st.run_dir))
    if not clocks:
        err.print(
            "[red]error:[/] this cluster's nodes read the real clock; start it with "
            "`faultlab up --clocks` for clock faults"
        )
        raise typer.Exit(1)
    if node is None:
        return clocks
    if node not in clocks:
        err.print(f"[red]error:[/] no node {node} (nodes: {', '.join(clocks)})")
        raise typer.Exit(1)
    return {node: clocks[node]}


@app.command(context_settings={"ignore_unknown_options": True})
def skew(
    node: str,
    change: list[str] = typer.Argument(..., help="+500ms, -2s (a jump) and/or x0.5 (a rate)"),
) -> None:
    """Jump NODE's clock forward or back, and/or make it run fast or slow from now on."""
    jump_s, rate = parse_skew(change)
    clock = _clocks(node)[node]
    try:
        state = clock.skew(jump_s, rate)
    except ClockError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    console.print(f"{node}: clock {state.describe(state.anchor_real_s)}")


@app.command()
def heal(node: str | None = typer.Argument(None, help="one node; default: every clock")) -> None:
    """Real time again on NODE (default: every node), at once."""
    for name, clock in _clocks(node).items():
        clock.heal()
        console.print(f"{name}: clock real")
