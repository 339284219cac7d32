"""A run's journal in the Chaos Toolkit's format (journal.json), so its tooling (reports,
`chaos report`, dashboards that read journals) can read faultlab runs.

The mapping: the steady-state hypothesis is "the checker finds no anomaly"; before the
run it is met by construction (a fresh cluster with a leader a majority follows), after
the run it is met when the judge found no anomaly. `deviated` is then the anomaly, and
`status` is "failed" when deviated, as the Chaos Toolkit reports a broken hypothesis.
Each injected fault is one action in `run`, with its start and end.
"""

from __future__ import annotations

import datetime
import platform
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.experiments.base import Experiment, ModeResult


def _iso(unix_s: float) -> str:
    return datetime.datetime.fromtimestamp(unix_s, datetime.UTC).isoformat()


def _probe(name: str, met: bool, detail: str) -> dict[str, Any]:
    return {
        "activity": {
            "type": "probe",
            "name": name,
            "provider": {"type": "python", "module": "chaos.checkers", "func": name},
        },
        "output": detail,
        "status": "succeeded",
        "tolerance_met": met,
    }


def journal(exp: Experiment, r: ModeResult) -> dict[str, Any]:
    t0 = r.started_wall_s
    end = t0 + r.duration_s
    deviated = r.finding.anomaly
    runs = [
        {
            "activity": {
                "type": "action",
                "name": fault,
                "provider": {"type": "python", "module": "chaos.nemesis", "func": fault},
            },
            "status": "succeeded",
            "output": None,
            "start": _iso(t0 + start_s),
            "end": _iso(t0 + end_s),
            "duration": end_s - start_s,
        }
        for fault, start_s, end_s in r.faults
    ]
    hypothesis = f"{exp.name} shows no anomaly"
    return {
        "chaoslib-version": None,
        "platform": platform.platform(),
        "node": platform.node(),
        "experiment": {
            "title": f"{exp.title} ({r.mode.name} mode)",
            "description": exp.hypothesis,
            "tags": ["faultlab", exp.name, r.mode.name],
            "configuration": {"node_env": r.mode.node_env, "seed": r.seed},
            "steady-state-hypothesis": {"title": hypothesis},
            "method": [run["activity"] for run in runs],
            "extensions": [
                {
                    "name": "faultlab",
                    "expected_anomaly": r.mode.expect_anomaly,
                    "behaved_as_hypothesized": r.behaved,
                    "doc": exp.doc,
                }
            ],
        },
        "start": _iso(t0),
        "end": _iso(end),
        "duration": r.duration_s,
        "status": "failed" if deviated else "completed",
        "deviated": deviated,
        "steady_states": {
            "before": {
                "steady_state_met": True,
                "probes": [_probe("cluster_has_leader", True, "a leader a majority follows")],
            },
            "after": {
                "steady_state_met": not deviated,
                "probes": [_probe("checker", not deviated, r.finding.summary)],
            },
            "during": [],
        },
        "run": runs,
        "rollbacks": [
            {"activity": {"type": "action", "name": "heal_everything"}, "status": "succeeded"}
        ],
    }
