"""A node clock's arithmetic and its control file, as libfaketime will read them; the
CLI's way of writing a skew. The clocks' effect on real processes: tests/integration."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from chaos.backends import BackendError, Compose, Needs
from cluster.cli.clock import parse_skew
from cluster.clocks import ClockError, ClockState, NodeClock, node_clocks
from services.runtime.topology import Group, Topology


def test_a_clock_is_a_line_through_its_anchor() -> None:
    state = ClockState(anchor_real_s=100.0, anchor_fake_s=130.0, rate=0.5)
    assert state.at(100.0) == 130.0 and state.at(110.0) == 135.0
    assert state.offset_s(110.0) == 25.0
    assert state.describe(110.0) == "+25000ms x0.5"
    assert ClockState().healthy and ClockState().describe(5.0) == "real"


def test_each_change_is_continuous_but_for_the_jump_asked_for(tmp_path: Path) -> None:
    clock = NodeClock(tmp_path, "kv1")
    first = clock.skew(jump_s=2.0)
    assert 1.9 < first.offset_s(first.anchor_real_s) <= 2.0 + 1e-6
    slowed = clock.skew(rate=0.5)
    # The new anchor sits on the old line: no jump was asked for, none happened.
    assert slowed.anchor_fake_s == pytest.approx(first.at(slowed.anchor_real_s))
    assert slowed.rate == 0.5
    spec = clock.control_path.read_text().strip()
    assert spec == f"@{slowed.anchor_fake_s:.6f} x0.5"
    assert clock.heal().healthy and clock.control_path.read_text().strip() == "+0 x1"
    assert not list(tmp_path.glob("*.partial"))  # every file was renamed into place
    with pytest.raises(ClockError, match=r"in \(0, 100\]"):
        clock.skew(rate=0.0)


def test_the_clocks_of_a_run_are_found_by_their_control_files(tmp_path: Path) -> None:
    assert node_clocks(tmp_path) == {}
    for node in ("kv2", "kv1"):
        NodeClock(tmp_path / "clocks", node).heal()
    assert list(node_clocks(tmp_path)) == ["kv1", "kv2"]


def test_a_skew_is_written_as_people_write_it() -> None:
    assert parse_skew(["+500ms"]) == (0.5, None)
    assert parse_skew(["-2s", "x0.25"]) == (-2.0, 0.25)
    assert parse_skew(["x2"]) == (0.0, 2.0)
    assert parse_skew(["+1m"]) == (60.0, None)
    with pytest.raises(typer.BadParameter, match=r"a rate like x0\.5"):
        parse_skew(["500ms"])  # a jump needs its sign


def test_compose_refuses_fake_clocks_before_touching_an_engine(tmp_path: Path) -> None:
    compose = Compose(engine=None, images={})  # type: ignore[arg-type]
    topology = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
    started = compose(topology, {}, Needs(fake_clocks=True), tmp_path)
    with pytest.raises(BackendError, match="only the process backend"), started:
        pass
