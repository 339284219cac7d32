"""faultlab as a Chaos Toolkit extension: actions (chaos.ctk.actions) and probes
(chaos.ctk.probes) on the cluster `faultlab up --detach` runs, for experiment files run
by Chaos Toolkit's own CLI (`chaos run experiment.json`). docs/chaostoolkit.md shows an
experiment; `chaos discover --no-install faultlab` lists what is here (via `discover`).
"""

from __future__ import annotations

from typing import Any

__version__ = "1"


def discover(discover_system: bool = True) -> dict[str, Any]:
    """What this extension offers, in the form `chaos discover` prints."""
    from chaoslib.discovery import (  # type: ignore[import-untyped]
        discover_actions,
        discover_probes,
        initialize_discovery_result,
    )

    discovery: dict[str, Any] = initialize_discovery_result("faultlab", __version__, "faultlab")
    discovery["activities"].extend(load_exported_activities(discover_actions, discover_probes))
    return discovery


def load_exported_activities(*discoverers: Any) -> list[dict[str, Any]]:
    activities: list[dict[str, Any]] = []
    for module, discoverer in zip(
        ("chaos.ctk.actions", "chaos.ctk.probes"), discoverers, strict=True
    ):
        activities.extend(discoverer(module))
    return activities
