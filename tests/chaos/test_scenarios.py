"""Scenarios written on the API (chaos/scenario) run as experiments do: here the lock
workload, with the lock service's leader cut off mid-run, judged safe by the lock
checker; and a scenario's history, report and journal land in its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.experiments.base import run_mode
from chaos.scenario import Scenario, checkers, faults, workloads

pytestmark = pytest.mark.integration

LOCKS = Scenario(
    name="lock-leader-cut",
    title="The lock service's leader is cut off while clients take turns",
    hypothesis="Cutting the lock leader off loses no update and never grants the lock twice.",
    groups={"kv": 3, "lock": 3},
    workload=workloads.lock_set(contenders=3, ttl_s=2.0, fenced=True),
    timeline=[faults.isolate("leader", group="lock", start=0.3, end=0.6)],
    checkers=[checkers.lock_safety()],
)


def test_the_lock_workload_under_a_cut_lock_leader_is_judged_safe(tmp_path: Path) -> None:
    exp = LOCKS.experiment()
    result = run_mode(exp, exp.safe, 8.0, seed=1, folder=tmp_path)
    assert result.behaved, result.finding.summary
    assert result.finding.figures["acknowledged_adds"] > 0
    assert result.finding.figures["lost_updates"] == 0
    assert [f[0] for f in result.faults] == ["isolate-leader"]
    assert json.loads((tmp_path / "journal.json").read_text())["deviated"] is False
