"""The page's controls refuse what they cannot do before they touch the cluster, with
the HTTP status the page shows (cluster/cli/ui/actions.py), and one action runs at a time;
a stream that cannot keep up skips snapshots instead of holding them (server.Hub)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cluster.cli.ui.actions import ActionError, Actions
from cluster.cli.ui.server import Hub
from cluster.state import ClusterState
from services.runtime.topology import Group, Topology


@pytest.fixture
def actions(tmp_path: Path) -> Actions:
    topology = tmp_path / "topology.toml"
    topology.write_text(Topology.build("127.0.0.1", 41000, (Group("kv", 3),)).to_toml())
    # Nothing listens at port 1: a request that got as far as Toxiproxy would fail with 502.
    return Actions(ClusterState(0, str(tmp_path), str(topology), "127.0.0.1:1"))


def refusal(actions: Actions, request: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(ActionError) as e:
        actions.apply(request)
    return e.value.status, str(e.value)


@pytest.mark.parametrize(
    ("request_", "said"),
    [
        ({"action": "fly"}, "unknown action 'fly'"),
        ({"action": "kill", "node": "kv9"}, "unknown node 'kv9'; nodes: kv1, kv2, kv3"),
        ({"action": "isolate"}, "unknown node None"),
        ({"action": "partition", "sides": [["kv1"]]}, "sides is a list of two or more"),
        ({"action": "partition", "sides": [["kv1"], ["kv7"]]}, "unknown node(s) kv7"),
        ({"action": "partition", "sides": [["kv1"], []]}, "partition side: a list of node ids"),
        ({"action": "latency", "node": "kv1", "value": "200"}, "a whole number above 0"),
        ({"action": "bandwidth", "node": "kv1", "value": True}, "a whole number above 0"),
        ({"action": "heal", "kind": "gently"}, "kind is one of blackhole, reset, refuse"),
        ({"action": "power-cut", "node": "kv1"}, "kv1 has no lazy disk"),
        ({"action": "latency", "link": ["kv1"], "value": 5}, "link is [source, destination]"),
        ({"action": "skew-clock", "node": "kv1", "rate": 2}, "start it with --clocks"),
        ({"action": "heal-clocks"}, "read the real clock"),
        ({"action": "slow-disk", "node": "kv1", "fsync_ms": 5}, "start it with --lazy-disks"),
        ({"action": "heal-disks"}, "plain disks"),
        ({"action": "latency", "link": ["kv1", "kv9"], "value": 5}, "kv9"),
    ],
)
def test_a_bad_request_is_refused_with_400(
    actions: Actions, request_: dict[str, Any], said: str
) -> None:
    status, message = refusal(actions, request_)
    assert status == 400 and said in message


def test_a_second_action_while_one_runs_is_refused_with_409(actions: Actions) -> None:
    assert actions._busy.acquire(blocking=False)  # the first action, still running
    try:
        assert refusal(actions, {"action": "heal"}) == (
            409,
            "another action is running; try again when it is done",
        )
    finally:
        actions._busy.release()


def test_toxiproxy_gone_is_a_502(actions: Actions) -> None:
    status, message = refusal(actions, {"action": "heal"})
    assert status == 502 and message.startswith("Toxiproxy: ")


def test_a_stream_that_falls_behind_skips_snapshots() -> None:
    hub = Hub()
    queue = hub.subscribe()
    for i in range(100):
        hub.publish("state", {"n": i})
    assert hub.latest == {"n": 99}
    kept = [queue.get_nowait()[1]["n"] for _ in range(queue.qsize())]
    assert len(kept) == 64 and kept[-1] == 99 and kept == sorted(kept)
    hub.unsubscribe(queue)
    hub.publish("state", {"n": 100})
    assert queue.qsize() == 0


def test_a_compose_cluster_whose_engine_is_gone_is_a_502(tmp_path: Path) -> None:
    topology = tmp_path / "topology.toml"
    topology.write_text(Topology.build("127.0.0.1", 41000, (Group("kv", 3),)).to_toml())
    st = ClusterState(
        0,
        str(tmp_path),
        str(topology),
        "127.0.0.1:1",
        compose_project="faultlab-test",
        docker_host=f"unix://{tmp_path}/no-engine.sock",
    )
    status, message = refusal(Actions(st), {"action": "kill", "node": "kv1"})
    assert status == 502 and message.startswith("the containers' engine: ")
