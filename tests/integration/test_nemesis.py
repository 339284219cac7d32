"""Every nemesis fault injects, is recorded, and heals, against a real KV cluster."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from chaos.history import NEMESIS, History, pair
from chaos.nemesis import (
    kill_and_restart,
    pause_and_resume,
    random_halves,
    run_nemesis,
    slow_node,
)
from chaos.pytest_plugin import make_cluster
from chaos.workload import ClientSpec, WorkloadSpec, run_workload
from services.runtime.topology import Group

pytestmark = pytest.mark.integration


def test_faults_are_recorded_and_healed(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, (Group("kv", 3),)).start()
    try:
        cluster.wait_for_leader()
        faults = [
            kill_and_restart("kill-leader", None, at_s=0.5, down_s=1.5),
            pause_and_resume("pause-kv2", "kv2", at_s=3.0, paused_s=1.0),
            random_halves("halves", random.Random(1), at_s=4.5, duration_s=1.0),
            slow_node("slow-kv3", "kv3", 100, at_s=6.0, duration_s=1.0),
        ]
        history = History()
        spec = WorkloadSpec((ClientSpec("writer", None, reads=False), ClientSpec("reader", None)))

        async def drive() -> None:
            await asyncio.gather(
                run_workload(spec, cluster.topology, history, 8.0, seed=1),
                run_nemesis(faults, cluster, history),
            )

        asyncio.run(drive())

        events = [e for e in history.events if e.process == NEMESIS]
        assert [e.f for e in events if e.type == "invoke"] == [
            "kill-leader",
            "pause-kv2",
            "halves",
            "slow-kv3",
        ]
        assert len([e for e in events if e.type == "info"]) == 4, "every fault was healed"
        assert all(cluster.is_running(n.id) for n in cluster.topology.nodes)
        cluster.wait_for_leader()
        ops = list(pair(history.events))
        assert sum(1 for op in ops if op.outcome == "ok") > 50
        assert cluster.toxiproxy is not None
        toxics = [t for p in cluster.toxiproxy.proxies() for t in cluster.toxiproxy.toxics(p)]
        assert toxics == [], "a toxic outlived the run"
    finally:
        cluster.close()
