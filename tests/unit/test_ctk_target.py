"""What faultlab's Chaos Toolkit activities refuse before they touch anything: process
actions on a compose cluster (the Docker engine owns its processes, not a supervisor of
ours) and arguments that are not what they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.ctk import actions, target
from cluster import state
from services.runtime.topology import Group, Topology


@pytest.fixture
def compose_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state file `faultlab compose up` writes (no engine is asked by these tests)."""
    topology = tmp_path / "topology.toml"
    topology.write_text(Topology.build("127.0.0.1", 0, (Group("kv", 3),)).to_toml())
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "home"))
    state.write(
        state.ClusterState(
            supervisor_pid=0,
            run_dir=str(tmp_path / "run"),
            topology_path=str(topology),
            toxiproxy_api="127.0.0.1:1",
            compose_project="faultlab-test",
        )
    )


@pytest.mark.parametrize("verb", ["kill", "pause", "restart", "resume", "start"])
def test_process_actions_on_a_compose_cluster_are_refused_with_the_way(
    compose_cluster: None, verb: str
) -> None:
    with pytest.raises(target.ActivityError, match="compose cluster or a swarm use `faultlab node"):
        getattr(actions, verb)("kv1")


def test_a_power_cut_on_a_compose_cluster_is_refused_for_its_plain_disks(
    compose_cluster: None,
) -> None:
    with pytest.raises(target.ActivityError, match="plain disks"):
        actions.power_cut()


@pytest.mark.parametrize(("given", "read"), [(True, True), ("false", False), ("YES", True)])
def test_a_flag_reads_json_and_chaos_run_var_spellings(given: bool | str, read: bool) -> None:
    assert target.flag("fenced", given) is read


def test_a_flag_that_is_not_yes_or_no_is_refused() -> None:
    with pytest.raises(target.ActivityError, match="fenced is true or false, not 'maybe'"):
        target.flag("fenced", "maybe")
