"""Faults, workloads that record histories, checkers, experiments and their reports.

`discover` is here for Chaos Toolkit: `chaos discover faultlab` finds the distribution's
first top-level package (this one) and asks it what the extension offers
(chaos/ctk/__init__.py)."""

from __future__ import annotations

from typing import Any


def discover(discover_system: bool = True) -> dict[str, Any]:
    from chaos.ctk import discover as ctk_discover

    return ctk_discover(discover_system)
