"""Scenarios written on the API (chaos/scenario) run as experiments do: here the lock
workload, with the lock service's leader cut off mid-run, judged safe by the lock
checker; and a scenario's history, report and journal land in its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.experiments.base import run_mode
from chaos.scenario import Mode, Scenario, checkers, faults, workloads

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


SLOW_LEADER = Scenario(
    name="gateway-slow-leader",
    title="The KV leader answers late, behind the gateway",
    hypothesis="Linearizable reads through the gateway wait on the leader: its latency shows.",
    groups={"kv": 3, "gateway": 1},
    workload=workloads.gateway_calls(call="kv-get", callers=4),
    timeline=[faults.latency("leader", ms=300, start=0.2, end=0.8)],
    checkers=[checkers.answered_at_least("call", 0.5), checkers.latency_below("call", 150)],
    safe=Mode("slow-leader", "300 ms on the KV leader's answers", {}, expect_anomaly=True),
)


def test_gateway_calls_see_a_slow_leader_in_their_latency(tmp_path: Path) -> None:
    exp = SLOW_LEADER.experiment()
    result = run_mode(exp, exp.safe, 8.0, seed=1, folder=tmp_path)
    assert result.behaved, result.finding.summary
    figures = result.finding.figures
    assert figures["answered-at-least-call.call_ok_share"] >= 0.5
    assert figures["latency-below-call.call_p99_ms"] > 150
    assert "latency-below-call" in result.finding.summary


ETCD_COUNTER = Scenario(
    name="etcd-counter-paused-leader",
    title="etcd's Go client keeps a counter under its Mutex while the KV leader pauses",
    hypothesis="A paused leader is replaced; fenced increments under the Mutex lose nothing.",
    groups={"kv": 3},
    workload=workloads.etcd_counter(contenders=2, fenced=True),
    timeline=[faults.pause("leader", start=0.3, end=0.5)],
    checkers=[checkers.counter_safety()],
)


def test_etcds_go_client_keeps_every_increment_across_a_paused_leader(tmp_path: Path) -> None:
    exp = ETCD_COUNTER.experiment()
    result = run_mode(exp, exp.safe, 8.0, seed=1, folder=tmp_path)
    assert result.behaved, result.finding.summary
    assert result.finding.figures["acknowledged_increments"] > 0
    assert result.finding.figures["lost_increments"] == 0
    assert [f[0] for f in result.faults] == ["pause-leader"]
