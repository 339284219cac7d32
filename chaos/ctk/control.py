"""A Chaos Toolkit control that checks an experiment's faultlab activities against the
running cluster before anything runs: every `node` is a node of its topology (or
"leader"), every `group` a Raft group it hosts, every `func` one this extension has.
A mistake interrupts the experiment at once, naming the activity, instead of failing
halfway with the cluster half broken. Declare it in the experiment:

    "controls": [{"name": "faultlab",
                  "provider": {"type": "python", "module": "chaos.ctk.control"}}]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chaos.ctk import actions, probes, target

MODULES = {"chaos.ctk.actions": set(actions.__all__), "chaos.ctk.probes": set(probes.__all__)}
NODE_ARGUMENTS = ("node", "readers_on")
SPECIAL_NODES = {target.LEADER, probes.CUT_OFF, ""}


def before_experiment_control(context: dict[str, Any], **kwargs: Any) -> None:
    problems = list(problems_in(context))
    if problems:
        from chaoslib.exceptions import InterruptExecution  # type: ignore[import-untyped]

        raise InterruptExecution("faultlab: " + "; ".join(problems))


def problems_in(experiment: dict[str, Any]) -> Iterator[str]:
    """What in `experiment` cannot act on the running cluster."""
    topology = target.topology()
    nodes = set(topology.node_ids)
    groups = {g.name for g in topology.groups}
    for activity in _activities(experiment):
        provider = activity.get("provider", {})
        module = provider.get("module", "")
        if provider.get("type") != "python" or module not in MODULES:
            continue
        where = f"{activity.get('name', '?')} ({module}.{provider.get('func')})"
        if provider.get("func") not in MODULES[module]:
            yield f"{where}: no such {module.rsplit('.', 1)[1][:-1]} in faultlab's extension"
            continue
        arguments = provider.get("arguments", {})
        for name in NODE_ARGUMENTS:
            node = arguments.get(name)
            if isinstance(node, str) and node not in SPECIAL_NODES | nodes:
                yield f"{where}: no node {node!r}; nodes: {', '.join(sorted(nodes))}"
        group = arguments.get("group")
        if isinstance(group, str) and group.split("/")[0] not in groups:
            yield f"{where}: no Raft group {group!r} in this cluster ({', '.join(sorted(groups))})"
        for side in arguments.get("sides", []) or []:
            for node in side:
                if node not in nodes:
                    yield f"{where}: no node {node!r} in sides; nodes: {', '.join(sorted(nodes))}"


def _activities(experiment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    yield from hypothesis.get("probes", [])
    yield from experiment.get("method", [])
    yield from experiment.get("rollbacks", [])
