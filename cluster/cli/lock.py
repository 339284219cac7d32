"""`faultlab lock ...`: the lock service of the running cluster, from the command line.

`acquire` holds the lock (keeping its session alive) until Ctrl-C or SIGTERM, then
releases it, as `etcdctl lock` does; with --detach it leaves the lock to its session,
which expires one TTL later unless released with `faultlab lock release NAME --session`.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cluster.cli.calling import GatewayRoute, run_with_client
from cluster.cli.durations import parse_ms
from cluster.client import LockBusy, LockClient
from cluster.client.lock import default_owner

app = typer.Typer(no_args_is_help=True)
console = Console()
T = TypeVar("T")
err = Console(stderr=True)


route = GatewayRoute(app, "lock")


def _run(action: Callable[[LockClient], Awaitable[Any]]) -> Any:
    try:
        clients = route.client_for(LockClient.for_topology, LockClient.for_gateway)
        return run_with_client(clients, action)
    except LockBusy as e:
        err.print(f"not acquired: {e}")
        raise typer.Exit(2) from e


@app.command()
def acquire(
    name: str,
    ttl: str = typer.Option("10s", "--ttl", help="session TTL, e.g. 5s or 1500ms"),
    wait: bool = typer.Option(False, "--wait", help="wait in the queue until granted"),
    timeout: str = typer.Option("", "--timeout", help="with --wait: give up after this long"),
    detach: bool = typer.Option(False, "--detach", help="exit at once; the session keeps it"),
    owner: str = typer.Option("", "--owner", help="shown by holder and sessions"),
) -> None:
    """Take a lock and hold it until Ctrl-C (exit 2 if it is held and --wait not given)."""
    ttl_s = parse_ms(ttl) / 1000
    timeout_s = parse_ms(timeout) / 1000 if timeout else None

    async def hold(c: LockClient) -> None:
        # Before anything else: a signal that arrived before the handlers were installed
        # would take asyncio's default path and end the run without releasing the lock.
        stop = _stop_on_signals()
        async with c.session(ttl_s, owner or f"cli {default_owner()}") as session:
            acquiring = session.acquire(name, wait=wait, timeout_s=timeout_s)
            token = await _unless_stopped(stop, acquiring)
            if token is None:  # interrupted while waiting; closing the session leaves the queue
                err.print(f"interrupted: {name} not acquired")
                raise typer.Exit(130)
            console.print(f"acquired {name} token={token} session={session.id}", highlight=False)
            if detach:
                session.abandon()
                console.print(
                    f"held until session {session.id} expires ({ttl}) or "
                    f"`faultlab lock release {name} --session {session.id}`"
                )
                return
            await _unless_stopped(stop, session.lost.wait())
            if session.lost.is_set():
                err.print(f"session {session.id} expired: the lock was lost")
                raise typer.Exit(1)
            await session.release(name)
            console.print(f"released {name}")

    _run(hold)


def _stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM, in place of asyncio's default handling."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None (`work` cancelled) if `stop` is set first."""
    working = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([working, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if working.done():
        return working.result()
    working.cancel()
    await asyncio.gather(working, return_exceptions=True)
    return None


@app.command()
def release(
    name: str, session: int = typer.Option(..., "--session", help="the holder's session")
) -> None:
    """Release a lock held by SESSION (from `acquire --detach` or `sessions`)."""
    resp = _run(lambda c: c.release(name, session))
    nxt = f"; granted to session {resp.next_session} (token {resp.next_token})"
    console.print(f"released {name}{nxt if resp.next_session else ''}")


@app.command()
def holder(name: str) -> None:
    """Who holds a lock, with its token (exit 1 if nobody does)."""
    resp = _run(lambda c: c.holder(name))
    if not resp.held:
        err.print(f"{name}: not held")
        raise typer.Exit(1)
    held_s = time.time() - resp.since_unix_ms / 1000
    console.print(
        f"{name}: session {resp.session_id} ({resp.owner}) token={resp.token} "
        f"held {held_s:.1f}s, {resp.waiters} waiting",
        highlight=False,
    )


@app.command()
def sessions() -> None:
    """Every live session: owner, TTL, time left, locks held and awaited."""
    listed = _run(lambda c: c.sessions())
    table = Table("session", "owner", "ttl", "expires in", "holds", "waits for")
    for s in listed:
        table.add_row(
            str(s.session_id),
            s.owner,
            f"{s.ttl_ms} ms",
            f"{s.expires_in_ms} ms",
            ", ".join(s.held),
            ", ".join(s.waiting),
        )
    console.print(table)
