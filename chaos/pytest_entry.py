"""faultlab's pytest11 entry point. The fixtures (chaos/pytest_plugin.py) need the `lab`
extra; a bare `pip install faultlab` (a node's install) has pytest load nothing from here
instead of failing every test session on a missing import."""

from __future__ import annotations

LAB_MODULES = {"httpx", "typer", "rich", "yaml", "matplotlib", "docker", "mfusepy", "cryptography"}

try:
    from chaos.pytest_plugin import *  # noqa: F403 - the fixtures, as this plugin's own
except ModuleNotFoundError as e:
    if e.name not in LAB_MODULES:
        raise
