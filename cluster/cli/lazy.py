"""Commands imported only when they run, so `faultlab kv get` does not pay for matplotlib,
the Docker SDK or the experiments' catalogue.

Each top-level command is named here with the module and attribute that define it (a
`typer.Typer` for a group such as `kv`, a function for a single command such as `status`)
and a one-line help. `faultlab --help` prints those lines without importing anything;
running a command imports its one module. This is click's documented lazy-loading group
(click's docs, "Lazily Loading Subcommands"), on Typer's group class so help keeps
Typer's look.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from difflib import get_close_matches

import click
import typer
import typer.main
from typer.core import TyperGroup

COMPLETION_OPTIONS = ("install_completion", "show_completion")


@dataclass(frozen=True)
class Lazy:
    module: str
    attr: str  # a typer.Typer (a command group) or a function (one command)
    help: str


def lazy_group(entries: dict[str, Lazy]) -> type[TyperGroup]:
    """A TyperGroup class whose commands beyond those added directly are `entries`."""

    class LazyGroup(TyperGroup):
        _describing = False  # while help is drawn, a command is only its help line

        def list_commands(self, ctx: click.Context) -> list[str]:
            return [*super().list_commands(ctx), *entries]

        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            if cmd_name in self.commands or cmd_name not in entries:
                return super().get_command(ctx, cmd_name)
            entry = entries[cmd_name]
            if self._describing:
                return click.Command(cmd_name, help=entry.help, short_help=entry.help)
            command = _load(cmd_name, entry)
            self.commands[cmd_name] = command
            return command

        def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
            self._describing = True
            try:
                super().format_help(ctx, formatter)
            finally:
                self._describing = False

        def resolve_command(
            self, ctx: click.Context, args: list[str]
        ) -> tuple[str | None, click.Command | None, list[str]]:
            try:  # Typer suggests among loaded commands only; here: among all of them
                return click.Group.resolve_command(self, ctx, args)
            except click.UsageError as e:
                matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
                if matches:
                    hint = f"{e.message.rstrip('.')}. Did you mean {matches[0]!r}?"
                    raise click.UsageError(hint, e.ctx) from None
                raise

    return LazyGroup


def _load(name: str, entry: Lazy) -> click.Command:
    target = getattr(importlib.import_module(entry.module), entry.attr)
    command: click.Command
    if isinstance(target, typer.Typer):
        # A group even with one command (`gateway limits`): get_command would collapse it.
        command = typer.main.get_group(target)
        command.help = command.help or entry.help
        # get_group gives an app loaded on its own no completion options; be sure of it.
        command.params = [p for p in command.params if p.name not in COMPLETION_OPTIONS]
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name=name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command
