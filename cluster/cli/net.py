"""`faultlab net ...`: partitions, latency and bandwidth on the running cluster's links."""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.console import Console

from chaos.net import Cut, NetError, Network, Target
from cluster.cli.current import cluster_state
from cluster.cli.durations import parse_ms
from cluster.toxiproxy import ToxiproxyClient, ToxiproxyError

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

KindOption = typer.Option(Cut.BLACKHOLE, "--kind", "-k", help="how links are cut")


def _network() -> tuple[Network, ToxiproxyClient]:
    st = cluster_state()
    client = ToxiproxyClient(st.toxiproxy_api)
    return Network(client, st.topology()), client


def _run(action: str, fn: Callable[[Network], list[str] | None]) -> None:
    net, client = _network()
    try:
        links = fn(net)
    except (NetError, ToxiproxyError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    finally:
        client.close()
    console.print(f"{action}: {', '.join(links) if links else 'done'}")


def _target(text: str) -> Target:
    if ":" in text:
        src, dst = text.split(":", 1)
        return (src, dst)
    return text


@app.command()
def partition(
    sides: list[str] = typer.Argument(..., help="comma-separated sides, e.g. kv1 kv2,kv3"),
    one_way: bool = typer.Option(False, help="cut only from the first side to the second"),
    kind: Cut = KindOption,
) -> None:
    """Cut every link between the sides."""
    groups = [s.split(",") for s in sides]
    if one_way:
        if len(groups) != 2:
            raise typer.BadParameter("--one-way takes exactly two sides")
        _run("cut", lambda net: net.partition_one_way(groups[0], groups[1], kind))
    else:
        _run("cut", lambda net: net.partition(groups, kind))


@app.command()
def isolate(node: str, kind: Cut = KindOption) -> None:
    """Cut a node from every peer (clients still reach it)."""
    _run("cut", lambda net: net.isolate(node, kind))


@app.command()
def heal() -> None:
    """Remove every fault: all links enabled, all toxics gone."""
    _run("healed", lambda net: net.heal())


@app.command()
def latency(
    target: str = typer.Argument(..., help="a node (all links into it) or SRC:DST (one link)"),
    delay: str = typer.Argument(..., help="e.g. 200ms"),
    jitter: str = typer.Option("0ms", help="random ± jitter"),
) -> None:
    """Delay the answers on a node's links, or on one link."""
    ms, jitter_ms = parse_ms(delay), parse_ms(jitter)
    _run("slowed", lambda net: net.latency(_target(target), ms, jitter_ms))


@app.command()
def bandwidth(
    target: str = typer.Argument(..., help="a node or SRC:DST"),
    rate_kb_s: int = typer.Argument(..., help="KB/s in each direction"),
) -> None:
    """Limit a node's links, or one link, to a rate."""
    _run("limited", lambda net: net.bandwidth(_target(target), rate_kb_s))
