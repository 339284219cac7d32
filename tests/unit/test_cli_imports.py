"""The CLI imports only what the command at hand uses: `faultlab kv get` must not pay for
matplotlib, the experiments' catalogue, the Docker SDK or the launcher (issue 30: every
command spent 1-3 s importing them). Run in a fresh interpreter each, so nothing this test
session imported counts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "matplotlib",
    "chaos.experiments",
    "chaos.report",
    "docker",
    "cluster.launcher",
    "cluster.containers",
    "numpy",
)

PROBE = """
import json, sys
from cluster.cli import app
try:
    app(sys.argv[1:], prog_name="faultlab")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def modules_loaded_by(*argv: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return list(json.loads(done.stderr.strip().splitlines()[-1]))


def heavy_among(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("--help",),
        ("kv", "--help"),
        ("kv", "get", "--help"),
        ("status", "--help"),
        ("lock", "holder", "--help"),
        ("log", "--help"),
        ("net", "--help"),
        ("node", "--help"),
        ("gateway", "--help"),
        ("disk", "--help"),
    ],
)
def test_a_quick_command_imports_nothing_heavy(argv: tuple[str, ...]) -> None:
    modules = modules_loaded_by(*argv)
    assert "cluster.cli" in modules
    assert heavy_among(modules) == []


def test_importing_the_cli_imports_no_command_module() -> None:
    probe = "import json, sys, cluster.cli; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    modules = json.loads(done.stdout)
    assert heavy_among(modules) == []
    assert not [m for m in modules if m.startswith("cluster.cli.") and m != "cluster.cli.lazy"]


def test_the_experiments_are_still_there_when_asked_for() -> None:
    """The check above would pass for a CLI that lost its chaos commands: this one would not."""
    assert "chaos.experiments" in modules_loaded_by("chaos", "list")


def test_every_command_and_subcommand_answers_help() -> None:
    """Each lazy entry loads as what it was before: a group keeps its commands, even one
    with a single command (`faultlab gateway limits`)."""
    from typer.testing import CliRunner

    from cluster.cli import COMMANDS, app

    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
    for argv in (
        ["gateway", "limits", "--help"],
        ["node", "resume", "--help"],
        ["log", "topic", "create", "--help"],
        ["chaos", "run", "--help"],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, (argv, result.output)
