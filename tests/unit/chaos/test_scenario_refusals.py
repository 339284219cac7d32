"""A scenario that cannot run is refused before any cluster starts, with a message that
says what is wrong and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.scenario import ScenarioError, load_script

HEADER = "from chaos.scenario import Mode, Scenario, checkers, faults, workloads\n"


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(HEADER + body)
    return path


def scenario(timeline: str = "[]", workload: str = "workloads.kv_register()", **more: str) -> str:
    """A scenario's source: a KV register workload judged as linearizable unless `more`
    (keyword arguments of Scenario, as source text) says otherwise."""
    extra = "".join(f"    {k}={v},\n" for k, v in more.items())
    return (
        "SCENARIO = Scenario(\n"
        '    name="mine", title="t", hypothesis="h",\n'
        f"    workload={workload},\n"
        f"    timeline={timeline},\n"
        + ("" if "checkers" in more else "    checkers=[checkers.linearizable()],\n")
        + extra
        + ")\n"
    )


def refusal(path: Path) -> str:
    with pytest.raises(ScenarioError) as e:
        load_script(path)
    return str(e.value)


def test_the_example_in_docs_loads(tmp_path: Path) -> None:
    docs = Path(__file__).parents[3] / "docs" / "scenarios" / "one_way_leader.py"
    loaded = load_script(docs)
    assert loaded.name == "one-way-leader" and loaded.script == docs
    assert loaded.experiment().modes("both") == [loaded.safe]


def test_an_unknown_node(tmp_path: Path) -> None:
    timeline = '[faults.kill("kv9", start=0.2, end=0.4)]'
    message = refusal(script(tmp_path, scenario(timeline)))
    assert "mine.py" in message and "timeline[0] (kill kv9)" in message
    assert "no node 'kv9'" in message and "kv1" in message


def test_a_fault_that_does_not_fit_the_run(tmp_path: Path) -> None:
    timeline = '[faults.isolate("leader", start=0.5, end=1.2)]'
    message = refusal(script(tmp_path, scenario(timeline)))
    assert "timeline[0] (isolate leader)" in message and "from 0.5 to 1.2" in message


def test_an_unknown_fault(tmp_path: Path) -> None:
    timeline = '[faults.meteor("leader", start=0.1, end=0.2)]'
    message = refusal(script(tmp_path, scenario(timeline)))
    assert "AttributeError" in message and "meteor" in message and "line" in message


def test_a_bad_fault_argument(tmp_path: Path) -> None:
    timeline = '[faults.one_way("leader", direction="sideways", start=0.1, end=0.2)]'
    message = refusal(script(tmp_path, scenario(timeline)))
    assert "direction is one of" in message and "sideways" in message


def test_a_checker_that_cannot_read_the_workload(tmp_path: Path) -> None:
    body = scenario(checkers="[checkers.no_acknowledged_loss()]")
    message = refusal(script(tmp_path, body))
    assert "checker no-acknowledged-loss" in message and "kv-register" in message


def test_a_workload_the_topology_lacks(tmp_path: Path) -> None:
    body = scenario(
        workload="workloads.log_produce_consume()",
        checkers="[checkers.no_acknowledged_loss()]",
    )
    message = refusal(script(tmp_path, body))
    assert "needs a 'log' group" in message


def test_a_group_the_topology_lacks(tmp_path: Path) -> None:
    timeline = '[faults.isolate("leader", group="lock", start=0.1, end=0.2)]'
    message = refusal(script(tmp_path, scenario(timeline)))
    assert "no Raft group 'lock'" in message


def test_no_scenario_and_no_file(tmp_path: Path) -> None:
    assert "defines no SCENARIO" in refusal(script(tmp_path, "x = 1\n"))
    assert "no such scenario script" in refusal(tmp_path / "absent.py")


def test_a_disk_fault_without_lazy_disks(tmp_path: Path) -> None:
    timeline = "[faults.power_cut(start=0.5, end=0.6)]"
    message = refusal(script(tmp_path, scenario(timeline)))
    assert "timeline[0] (power cut every node)" in message and "lazy_disks=True" in message
    accepted = script(tmp_path, scenario(timeline, lazy_disks="True"))
    assert load_script(accepted).experiment().lazy_disks


def test_a_clock_fault_asks_for_fake_clocks_and_refuses_what_no_clock_does(
    tmp_path: Path,
) -> None:
    timeline = '[faults.clock("leader", rate=0.5, start=0.2, end=0.8)]'
    loaded = load_script(script(tmp_path, scenario(timeline)))
    assert loaded.experiment().fake_clocks
    assert not load_script(script(tmp_path, scenario())).experiment().fake_clocks
    still = '[faults.clock("kv1", start=0.2, end=0.8)]'
    assert "give a jump_ms, a rate or both" in refusal(script(tmp_path, scenario(still)))
    backwards = '[faults.clock("kv1", rate=-1, start=0.2, end=0.8)]'
    assert "rate must be in (0, 100]" in refusal(script(tmp_path, scenario(backwards)))


def test_the_client_workloads_refuse_bad_arguments(tmp_path: Path) -> None:
    kafka = scenario(workload='workloads.kafka_produce(acks="2")', groups='{"log": 3}')
    assert "kafka_produce: acks is one of ['1', 'all'], not '2'" in refusal(script(tmp_path, kafka))
    etcd = scenario(workload="workloads.etcd_counter(contenders=0)")
    assert "etcd_counter: contenders and ttl_s must be at least 1" in refusal(
        script(tmp_path, etcd)
    )


def test_the_counter_checker_reads_only_the_etcd_counter(tmp_path: Path) -> None:
    message = refusal(script(tmp_path, scenario(checkers="[checkers.counter_safety()]")))
    assert "checker counter-safety reads histories of etcd-counter" in message
