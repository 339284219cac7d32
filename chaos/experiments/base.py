"""What an experiment is, and how one mode of it runs.

An experiment is a named scenario from the catalogue: a hypothesis, an unsafe and a safe
mode, the topology it needs, a plan (the workload spec and the faults, given the running
cluster), the workload that runs such a spec, and a judge (which reads the history and
says whether the anomaly happened). Running a mode starts a cluster of its own, runs
workload and nemesis side by side while a monitor samples every node's Raft groups,
closes the cluster, judges, and writes a report folder with a Chaos Toolkit journal.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos import monitor
from chaos.backends import Backend, Needs, processes
from chaos.chaos_mesh.steps import MeshStep
from chaos.checkers.availability import Availability, summarize
from chaos.history import History, Operation, pair
from chaos.journal import journal
from chaos.monitor import Sample
from chaos.nemesis import Fault, run_nemesis
from chaos.workload import run_workload
from cluster.backend import Cluster
from services.gateway.journal import JOURNAL_ENV
from services.runtime.topology import Group, Topology

DECISIONS = "decisions"  # in a run's folder: each gateway replica's decision journal
FLAGGED_KEPT = 500  # flagged operations named in summary.json, at most


@dataclass(frozen=True)
class Mode:
    name: str  # "unsafe" or "safe"
    summary: str
    node_env: dict[str, str]
    expect_anomaly: bool
    read_consistency: int = 0  # kv_pb2.LINEARIZABLE
    # What else the mode changes on the clients' side (fenced writes, sessions on or off),
    # for its plan and workload to read; shown in the report.
    settings: dict[str, object] = field(default_factory=dict)


@dataclass
class RunData:
    """What a judge gets: the history and the term samples, nothing of the system."""

    history: History
    operations: list[Operation]
    samples: list[Sample]
    duration_s: float
    folder: Path | None = None  # the run's folder: the gateways' decision journals are there
    started_wall_s: float = 0.0  # Unix time at history time 0 (journals use wall time)


@dataclass(frozen=True)
class Finding:
    anomaly: bool
    summary: str
    details_md: str = ""
    figures: dict[str, float] = field(default_factory=dict)
    # The operations the checker blames (a failing window, the writes of lost records):
    # summary.json names them, and `faultlab ui` marks them on the history's timeline.
    flagged: list[Operation] = field(default_factory=list)


# The plan returns a workload spec that the experiment's workload runner understands (the
# KV workload's WorkloadSpec for the KV experiments), and the faults to inject.
Plan = Callable[[Cluster, Mode, float], tuple[Any, list[Fault]]]
Judge = Callable[[RunData, Mode], Finding]
# (spec, topology, history, duration_s, seed): drives clients and records what they saw.
WorkloadRunner = Callable[[Any, Topology, History, float, int], Awaitable[None]]
DEFAULT_TOPOLOGY = Topology.build("127.0.0.1", 0, (Group("kv", 3),))


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    sources: tuple[str, ...]
    hypothesis: str
    unsafe: Mode
    safe: Mode
    plan: Plan
    judge: Judge
    doc: str  # the docs/ page
    topology: Topology = DEFAULT_TOPOLOGY  # base_port 0: each run picks free ports
    workload: WorkloadRunner = run_workload
    leader_group: str = "kv"  # the Raft group whose leader a run waits for before its plan
    lazy_disks: bool = False  # every node's data on a lazy disk (chaos.disk): power cuts
    fake_clocks: bool = False  # every node under libfaketime (cluster/clocks.py): clock faults
    single_mode: bool = False  # a scenario with one configuration: `safe` only
    # Its faults as Chaos Mesh injects them on Kubernetes (chaos/chaos_mesh), per mode,
    # and what of its timeline Chaos Mesh cannot inject, and why.
    mesh: Callable[[Mode], tuple[MeshStep, ...]] = lambda mode: ()
    mesh_gaps: tuple[str, ...] = ()

    def modes(self, which: str) -> list[Mode]:
        """The modes `which` (unsafe, safe or both) runs; none for "unsafe" when the
        experiment has only one."""
        if self.single_mode:
            return [] if which == "unsafe" else [self.safe]
        return {"unsafe": [self.unsafe], "safe": [self.safe], "both": [self.unsafe, self.safe]}[
            which
        ]


@dataclass
class ModeResult:
    experiment: str
    mode: Mode
    finding: Finding
    availability: Availability
    folder: Path
    seed: int
    duration_s: float
    faults: list[tuple[str, float, float]]
    history: History = field(repr=False)
    samples: list[Sample] = field(repr=False)
    started_wall_s: float = 0.0  # Unix time the workload began (history time 0 is near it)

    @property
    def behaved(self) -> bool:
        """Did this mode do what the hypothesis says it does?"""
        return self.finding.anomaly == self.mode.expect_anomaly

    def summary(self) -> dict[str, object]:
        return {
            "experiment": self.experiment,
            "mode": self.mode.name,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "expected_anomaly": self.mode.expect_anomaly,
            "anomaly": self.finding.anomaly,
            "behaved_as_hypothesized": self.behaved,
            "finding": self.finding.summary,
            "figures": self.finding.figures,
            "availability": asdict(self.availability),
            "faults": self.faults,
            "flagged": [
                {"process": op.process, "f": op.f, "key": op.key, "start_ns": op.start_ns}
                for op in self.finding.flagged[:FLAGGED_KEPT]
            ],
        }


def run_mode(
    exp: Experiment,
    mode: Mode,
    duration_s: float,
    seed: int,
    folder: Path,
    backend: Backend = processes,
) -> ModeResult:
    """One mode on a fresh cluster of `backend`'s (local processes, or containers)."""
    folder.mkdir(parents=True, exist_ok=True)
    node_env = dict(mode.node_env)
    if any(g.name == "gateway" for g in exp.topology.groups):
        node_env[JOURNAL_ENV] = str(folder / DECISIONS)  # for the judge (limiter checker)
    needs = Needs(lazy_disks=exp.lazy_disks, fake_clocks=exp.fake_clocks)
    with backend(exp.topology, node_env, needs, folder / "cluster") as cluster:
        cluster.wait_for_leader(timeout_s=20.0, group=exp.leader_group)
        spec, faults = exp.plan(cluster, mode, duration_s)
        history = History()
        started_wall_s = time.time()
        samples: list[Sample] = []
        try:
            asyncio.run(_drive(exp, cluster, spec, faults, history, samples, duration_s, seed))
        except BaseException:
            history.save(folder / "history.jsonl")  # what happened up to the failure
            raise
    operations = list(pair(history.events))
    data = RunData(history, operations, samples, duration_s, folder, started_wall_s)
    result = ModeResult(
        exp.name,
        mode,
        exp.judge(data, mode),
        summarize(operations, duration_s),
        folder,
        seed,
        duration_s,
        history.fault_windows(),
        history,
        samples,
        started_wall_s,
    )
    history.save(folder / "history.jsonl")
    monitor.save(samples, folder / "terms.jsonl")
    (folder / "summary.json").write_text(json.dumps(result.summary(), indent=2, default=str))
    (folder / "journal.json").write_text(json.dumps(journal(exp, result), indent=2))
    return result


async def _drive(
    exp: Experiment,
    cluster: Cluster,
    spec: Any,
    faults: list[Fault],
    history: History,
    samples: list[Sample],
    duration_s: float,
    seed: int,
) -> None:
    watcher = asyncio.create_task(monitor.monitor_terms(cluster.topology, history, samples))
    try:
        await asyncio.gather(
            exp.workload(spec, cluster.topology, history, duration_s, seed),
            run_nemesis(faults, cluster, history),
        )
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
