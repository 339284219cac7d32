"""`faultlab kv ...`: the KV store of the running cluster, from the command line."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import typer
from faultlab.kv.v1 import kv_pb2
from rich.console import Console
from rich.table import Table

from cluster.cli.calling import GatewayRoute, run_with_client
from cluster.client import LEASE, LINEARIZABLE, STALE, KvClient

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

CONSISTENCY: dict[str, int] = {"linearizable": LINEARIZABLE, "lease": LEASE, "stale": STALE}
ConsistencyOption = typer.Option(
    "linearizable", "--consistency", "-c", help="linearizable, lease or stale"
)


route = GatewayRoute(app, "KV")


def _run(action: Callable[[KvClient], Awaitable[Any]]) -> Any:
    return run_with_client(route.client_for(KvClient.for_topology, KvClient.for_gateway), action)


def _consistency(name: str) -> int:
    if name not in CONSISTENCY:
        raise typer.BadParameter(f"{name!r}: use linearizable, lease or stale")
    return CONSISTENCY[name]


@app.command()
def put(key: str, value: str) -> None:
    """Write a value."""
    resp = _run(lambda c: c.put(key, value.encode()))
    console.print(f"OK revision={resp.revision} version={resp.kv.version}")


@app.command()
def get(key: str, consistency: str = ConsistencyOption) -> None:
    """Read a value."""
    level = _consistency(consistency)
    resp = _run(lambda c: c.get(key, level))
    if not resp.found:
        err.print(f"{key}: not found (revision {resp.revision})")
        raise typer.Exit(1)
    console.print(resp.kv.value.decode(errors="replace"))


@app.command("del")
def delete(key: str) -> None:
    """Delete a key."""
    resp = _run(lambda c: c.delete(key))
    console.print(f"{'deleted' if resp.deleted else 'not found'} revision={resp.revision}")


@app.command()
def cas(key: str, expected_version: int, value: str) -> None:
    """Write only if the key's version is EXPECTED_VERSION (0: only if absent)."""
    resp = _run(lambda c: c.cas(key, expected_version, value.encode()))
    if not resp.succeeded:
        have = resp.kv.version if resp.found else 0
        err.print(f"CAS failed: {key} is at version {have}")
        raise typer.Exit(1)
    console.print(f"OK revision={resp.revision} version={resp.kv.version}")


@app.command("range")
def range_(
    prefix: str = typer.Argument(""), limit: int = 0, consistency: str = ConsistencyOption
) -> None:
    """Keys under a prefix."""
    level = _consistency(consistency)
    resp = _run(lambda c: c.range(prefix, limit, level))
    table = Table("key", "value", "version", "mod revision")
    for kv in resp.kvs:
        value = kv.value.decode(errors="replace")
        table.add_row(kv.key, value, str(kv.version), str(kv.mod_revision))
    console.print(table)
    if resp.more:
        console.print("(more keys match: raise --limit)")


@app.command()
def watch(
    prefix: str = typer.Argument(""),
    from_revision: int = typer.Option(0, "--from", help="replay from this revision on"),
) -> None:
    """Print changes under a prefix until Ctrl-C."""

    async def follow(c: KvClient) -> None:
        async for ev in c.watch(prefix, from_revision):
            kind = "DELETE" if ev.type == kv_pb2.WatchEvent.DELETE else "PUT"
            value = ev.kv.value.decode(errors="replace")
            console.print(f"{ev.revision} {kind} {ev.kv.key} {value}")

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
        _run(follow)
