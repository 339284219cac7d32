"""Fixtures shared by the integration tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.pytest_plugin import pid_alive
from tests.integration.clirunner import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    (tmp_path / "topology.toml").write_text("[cluster]\nbase_port = 0\n[groups.kv]\nnodes = 3\n")
    c = Cli(tmp_path / "home", tmp_path)
    try:
        yield c
    finally:
        state = c.home / "state.json"
        if state.exists():
            pid = json.loads(state.read_text())["supervisor_pid"]
            c("down", check=False)
            assert not pid_alive(pid)
