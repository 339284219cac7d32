"""Short runs of each experiment in both modes, on real clusters: the unsafe mode must show
the anomaly, the safe mode must not. The faults are aimed (at the leader, at a follower)
and timed, not random, so the anomaly does not depend on luck."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.experiments import EXPERIMENTS
from chaos.experiments.base import run_mode
from chaos.pytest_plugin import pid_alive
from chaos.report import write_report

pytestmark = pytest.mark.integration

DURATIONS_S = {
    "stale-read": 6.0,
    "disruptive-rejoin": 8.0,
    "lock-gc-pause": 6.0,
    "double-apply": 6.0,
    "lost-ack": 6.0,
    "zombie-consumer": 8.0,
    "no-fsync": 8.0,
    "slow-disk": 8.0,
    "limiter-partition": 6.0,
    "tail-latency": 6.0,
    "overload-cascade": 6.0,
    "retry-storm": 10.0,
    "etcd-lock-pause": 6.0,
    "kafka-lost-ack": 6.0,
    "kafka-zombie-consumer": 8.0,
    "clock-skew": 10.0,
    "lock-clock-skew": 8.0,
    "cache-stampede": 6.0,
    "cache-feedback": 14.0,
}


@pytest.mark.parametrize("mode", ["unsafe", "safe"])
@pytest.mark.parametrize("name", sorted(DURATIONS_S))
def test_experiment_behaves_as_hypothesized(name: str, mode: str, tmp_path: Path) -> None:
    exp = EXPERIMENTS[name]
    chosen = exp.unsafe if mode == "unsafe" else exp.safe
    result = run_mode(exp, chosen, DURATIONS_S[name], seed=7, folder=tmp_path)
    report = write_report(exp, result)

    assert result.finding.anomaly == chosen.expect_anomaly, result.finding.summary
    assert result.behaved
    assert result.faults, "the nemesis injected nothing"
    assert result.availability.ok > 50, "the workload hardly ran"
    files = ("history.jsonl", "terms.jsonl", "summary.json", "journal.json", "timeline.png")
    for name_ in (*files, "report.md"):
        assert (tmp_path / name_).stat().st_size > 0, name_
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["behaved_as_hypothesized"] is True
    journal = json.loads((tmp_path / "journal.json").read_text())  # Chaos Toolkit's shape
    assert journal["deviated"] is chosen.expect_anomaly
    assert journal["status"] == ("failed" if chosen.expect_anomaly else "completed")
    assert journal["steady_states"]["after"]["steady_state_met"] is not chosen.expect_anomaly
    assert [a["activity"]["name"] for a in journal["run"]] == [f[0] for f in result.faults]
    text = report.read_text()
    assert "## Verdict" in text and "behaved as the hypothesis says: yes" in text
    first_node = f"{exp.topology.groups[0].name}1.log"  # kv1, log1, ...: its first node
    pids = [
        int(line.split('"pid": ')[1].split("}")[0].split(",")[0])
        for line in (tmp_path / "cluster" / "logs" / first_node).read_text().splitlines()
        if '"event": "serving"' in line
    ]
    assert pids and not any(pid_alive(p) for p in pids), "a node outlived its experiment"


def test_stale_read_report_shows_the_failing_window(tmp_path: Path) -> None:
    exp = EXPERIMENTS["stale-read"]
    result = run_mode(exp, exp.unsafe, 6.0, seed=3, folder=tmp_path)
    text = write_report(exp, result).read_text()
    assert "| process | node | op |" in text
    # The window shows the stale read and the completed writes it should have seen.
    window = text.split("| process | node | op |")[1].split("## Availability")[0]
    assert "| read |" in window and "| write |" in window
    assert result.finding.figures["keys_invalid"] >= 1
