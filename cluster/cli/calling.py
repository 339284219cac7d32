"""One call (or a few) to the running cluster from a CLI command: find the cluster `faultlab
up` started, open a client for it, run the action, and turn a failed call into a red line
and exit code 1. Shared by `faultlab kv`, `faultlab lock` and `faultlab log`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import grpc
import typer
from rich.console import Console

from cluster import state
from services.runtime.topology import Topology

C = TypeVar("C")
err = Console(stderr=True)


def run_with_client(
    client_for: Callable[[Topology], AbstractAsyncContextManager[C]],
    action: Callable[[C], Awaitable[Any]],
) -> Any:
    try:
        topology = state.read().topology()
    except state.NoCluster as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e

    async def go() -> Any:
        async with client_for(topology) as client:
            return await action(client)

    try:
        return asyncio.run(go())
    except grpc.aio.AioRpcError as e:
        err.print(f"[red]{e.code().name}:[/] {e.details()}")
        raise typer.Exit(1) from e
