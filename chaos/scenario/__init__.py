"""Experiments people write themselves: a scenario is a topology, a workload, a timeline
of faults and the checkers to judge it, run like any experiment of the catalogue (same
report folder, plot, history and Chaos Toolkit journal) by

    faultlab chaos run path/to/script.py [--duration 30s] [--seed 1]

A script defines SCENARIO:

    from chaos.scenario import Mode, Scenario, checkers, faults, workloads

    SCENARIO = Scenario(
        name="one-way-leader",
        title="The leader's outbound links are cut",
        hypothesis="...",
        groups={"kv": 3},
        workload=workloads.kv_register(clients=4),
        timeline=[faults.one_way("leader", direction="outbound", start=0.3, end=0.6)],
        checkers=[checkers.linearizable()],
    )

With `unsafe=Mode(...)` beside `safe=Mode(...)` it runs both modes, as the catalogue's
experiments do; without, one. docs/scenarios.md documents the API.
"""

from chaos.experiments.base import Mode
from chaos.scenario import checkers, faults, workloads
from chaos.scenario.loading import load_script
from chaos.scenario.model import Scenario, ScenarioError

__all__ = [
    "Mode",
    "Scenario",
    "ScenarioError",
    "checkers",
    "faults",
    "load_script",
    "workloads",
]
