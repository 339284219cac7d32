"""`Scenario`: an experiment written as data, and its translation to the catalogue's shape.

A scenario names a topology, one workload, a timeline of faults placed as fractions of the
run, and the checkers that judge it; optionally an unsafe mode beside the safe one. Its
`experiment()` is an ordinary `Experiment`, so it runs, reports and journals exactly as
a catalogue entry does. `validate()` refuses what cannot run (a node, group or fraction
that does not fit) before any cluster starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chaos.chaos_mesh.steps import MeshStep
from chaos.experiments.base import Experiment, Finding, Mode, RunData, WorkloadRunner
from chaos.history import Operation
from chaos.nemesis import Fault
from cluster.backend import Cluster
from services.runtime.topology import Group, Topology


class ScenarioError(ValueError):
    """A scenario that cannot run; the message says what is wrong and where."""


@dataclass(frozen=True)
class Targets:
    """What faults aim at, known once the cluster runs and the workload is set up:
    `groups["workload"]` is the Raft group the workload writes to (the KV group, or the
    topic's partition 0)."""

    groups: dict[str, str]


@dataclass(frozen=True)
class Step:
    """One fault of the timeline: from `start` to `end`, fractions of the run."""

    name: str
    start: float
    end: float
    make: Callable[[Cluster, Targets, float, float], Fault]  # (cluster, targets, at_s, for_s)
    nodes: tuple[str, ...] = ()  # the nodes it names, checked against the topology
    groups: tuple[str, ...] = ()  # the Raft groups it names ("kv", "workload", ...)
    exclusive: bool = False
    disk: bool = False  # acts on the nodes' lazy disks: the scenario must run on them
    clock: bool = False  # skews a node's clock: the nodes run under libfaketime
    mesh: tuple[MeshStep, ...] = ()  # the same fault as Chaos Mesh injects it (k8s)
    mesh_gap: str = ""  # or why Chaos Mesh cannot


@dataclass(frozen=True)
class Workload:
    """A workload faultlab has: its spec (made for the running cluster and the mode: a
    client pinned to the current leader, the mode's read consistency or acks), the runner
    that drives it, the Raft group a run waits for, and a setup that runs on the live
    cluster before it (creating a topic)."""

    name: str
    spec: Callable[[Cluster, Targets, Mode], Any]
    runner: WorkloadRunner
    leader_group: str
    setup: Callable[[Cluster], dict[str, str]]  # -> named Raft groups for Targets
    needs: tuple[str, ...]  # topology groups it talks to


@dataclass(frozen=True)
class Verdict:
    anomaly: bool
    summary: str
    details_md: str = ""
    figures: dict[str, float] = field(default_factory=dict)
    flagged: list[Operation] = field(default_factory=list)  # what the checker blames


@dataclass(frozen=True)
class Checker:
    name: str
    check: Callable[[RunData], Verdict]
    fits: tuple[str, ...]  # the workloads whose histories it reads


SAFE = Mode("safe", "as configured", {}, expect_anomaly=False)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    hypothesis: str
    workload: Workload
    checkers: Sequence[Checker]
    timeline: Sequence[Step] = ()
    groups: dict[str, int] = field(default_factory=lambda: {"kv": 3})
    safe: Mode = SAFE
    unsafe: Mode | None = None
    sources: tuple[str, ...] = ()
    doc: str = ""  # a page in docs/, for the catalogue's scenarios
    lazy_disks: bool = False  # every node's data on a lazy disk: power cuts, disk faults
    script: Path | None = None  # where it was loaded from, shown in reports

    def topology(self) -> Topology:
        return Topology.build("127.0.0.1", 0, tuple(Group(g, n) for g, n in self.groups.items()))

    def validate(self) -> None:
        """Refuse what cannot run, naming the part that is wrong."""
        where = f"scenario {self.name!r}"
        if not self.name or not self.name.replace("-", "").isalnum():
            raise ScenarioError(f"{where}: name must be letters, digits and dashes")
        nodes = set(self.topology().node_ids)
        groups = set(self.groups)
        for g in self.workload.needs:
            if g not in groups:
                raise ScenarioError(
                    f"{where}: workload {self.workload.name} needs a {g!r} group; "
                    f"the topology has {sorted(groups)}"
                )
        if not self.checkers:
            raise ScenarioError(f"{where}: no checkers: nothing would judge the run")
        for c in self.checkers:
            if self.workload.name not in c.fits:
                raise ScenarioError(
                    f"{where}: checker {c.name} reads histories of {', '.join(c.fits)}, "
                    f"not of workload {self.workload.name}"
                )
        for i, step in enumerate(self.timeline):
            at = f"{where}, timeline[{i}] ({step.name})"
            if not 0.0 <= step.start < step.end <= 1.0:
                raise ScenarioError(
                    f"{at}: runs from {step.start} to {step.end}; a fault starts at a "
                    "fraction of the run in [0, 1) and ends after it, by 1"
                )
            if step.disk and not self.lazy_disks:
                raise ScenarioError(
                    f"{at}: a disk fault needs the nodes on lazy disks: Scenario(lazy_disks=True)"
                )
            for node in step.nodes:
                if node not in nodes:
                    raise ScenarioError(f"{at}: no node {node!r}; nodes: {sorted(nodes)}")
            for group in step.groups:
                if group != "workload" and group.split("/")[0] not in groups:
                    raise ScenarioError(f"{at}: no Raft group {group!r} in this topology")

    def experiment(self) -> Experiment:
        """The catalogue's shape of this scenario (validated first)."""
        self.validate()
        return Experiment(
            name=self.name,
            title=self.title,
            sources=self.sources or (f"a scenario script: {self.script or 'in code'}",),
            hypothesis=self.hypothesis,
            unsafe=self.unsafe or self.safe,
            safe=self.safe,
            plan=self._plan,
            judge=self._judge,
            doc=self.doc or str(self.script or ""),
            topology=self.topology(),
            workload=self.workload.runner,
            leader_group=self.workload.leader_group,
            single_mode=self.unsafe is None,
            lazy_disks=self.lazy_disks,
            fake_clocks=any(step.clock for step in self.timeline),
            mesh=lambda mode: tuple(self._mesh_steps()),
            mesh_gaps=tuple(f"{s.name}: {s.mesh_gap}" for s in self.timeline if s.mesh_gap),
        )

    def _mesh_steps(self) -> list[MeshStep]:
        """The timeline's Chaos Mesh steps, "workload" named as the group it runs on."""
        workload_group = self.workload.needs[0] if self.workload.needs else "kv"
        return [
            replace(m, group=workload_group if m.group == "workload" else m.group.split("/")[0])
            for s in self.timeline
            for m in s.mesh
        ]

    def _plan(self, cluster: Cluster, mode: Mode, duration_s: float) -> tuple[Any, list[Fault]]:
        targets = Targets(self.workload.setup(cluster))
        faults = [
            s.make(cluster, targets, s.start * duration_s, (s.end - s.start) * duration_s)
            for s in self.timeline
        ]
        return self.workload.spec(cluster, targets, mode), faults

    def _judge(self, data: RunData, mode: Mode) -> Finding:
        verdicts = [(c.name, c.check(data)) for c in self.checkers]
        anomalies = [(n, v) for n, v in verdicts if v.anomaly]
        shown = anomalies or verdicts
        summary = "; ".join(f"{n}: {v.summary}" for n, v in shown)
        details = "\n\n".join(f"### {n}\n\n{v.details_md}" for n, v in shown if v.details_md)
        # One checker's figures under their own names; several, each under its checker's.
        prefix = len(verdicts) > 1
        figures = {
            f"{n}.{k}" if prefix else k: value
            for n, v in verdicts
            for k, value in v.figures.items()
        }
        flagged = [op for _, v in anomalies for op in v.flagged]
        return Finding(bool(anomalies), summary, details, figures, flagged)
