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

from cluster.cli.current import cluster_state
from cluster.cli.durations import parse_ms
from services.runtime.topology import Topology

C = TypeVar("C")
err = Console(stderr=True)


def run_with_client(
    client_for: Callable[[Topology], AbstractAsyncContextManager[C]],
    action: Callable[[C], Awaitable[Any]],
) -> Any:
    topology = cluster_state().topology()

    async def go() -> Any:
        async with client_for(topology) as client:
            return await action(client)

    try:
        return asyncio.run(go())
    except grpc.aio.AioRpcError as e:
        err.print(f"[red]{e.code().name}:[/] {e.details()}")
        raise typer.Exit(1) from e


COMMAND_TIMEOUT_S = 15.0


class GatewayRoute:
    """The options of a command group's calls: `--via-gateway` and `--api-key` send them to
    a gateway node, with the key, instead of to the service's own nodes;
    `--command-timeout` is how long a call may go on retrying (etcdctl's option: long
    enough by default for the others to elect a leader after the README's kill -9)."""

    def __init__(self, app: typer.Typer, service: str) -> None:
        self.via_gateway = False
        self.api_key = ""
        self.command_timeout_s = COMMAND_TIMEOUT_S

        @app.callback()
        def options(
            via_gateway: bool = typer.Option(
                False, "--via-gateway", help=f"Call a gateway node instead of the {service} nodes."
            ),
            api_key: str = typer.Option(
                "demo-key", envvar="FAULTLAB_API_KEY", help="The gateway API key (--via-gateway)."
            ),
            command_timeout: str = typer.Option(
                f"{COMMAND_TIMEOUT_S:g}s",
                "--command-timeout",
                help="How long a call goes on retrying (through elections, cut links).",
            ),
        ) -> None:
            self.via_gateway, self.api_key = via_gateway, api_key
            self.command_timeout_s = parse_ms(command_timeout) / 1000

    def client_for(
        self, direct: Callable[..., C], via_gateway: Callable[..., C]
    ) -> Callable[[Topology], C]:
        """A client for the topology: retries bounded by the command timeout alone."""
        limits = {"attempts": None, "budget_s": self.command_timeout_s}
        return lambda topology: (
            via_gateway(topology, self.api_key, **limits)
            if self.via_gateway
            else direct(topology, **limits)
        )
