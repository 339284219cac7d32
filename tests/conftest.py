"""Shared test set-up. The cluster fixtures come from faultlab's own pytest plugin
(chaos/pytest_plugin.py), exactly as users get them; this adds the project's own rule:
no test may leave a child process running."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _no_stray_children() -> Iterator[None]:
    """After the whole session, no child of this pytest process may still be running."""
    yield
    me = os.getpid()
    strays = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().split(")")[-1].split()
            except OSError:
                continue
            if int(stat[1]) == me and stat[0] != "Z":
                strays.append(int(entry.name))
    assert not strays, f"the test session left child processes running: {strays}"
