"""faultlab's Chaos Toolkit extension, run by Chaos Toolkit's own CLI (`chaos run`) against
the cluster `faultlab up --detach` started: docs/chaostoolkit/stale-read.json holds its
steady state with ReadIndex reads, and deviates with stale ones, as the journal says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.ctk import actions, probes, target
from cluster.backend import Run
from cluster.waiting import wait_until
from tests.integration.clirunner import Cli

pytestmark = pytest.mark.integration

EXPERIMENT = Path(__file__).parents[2] / "docs" / "chaostoolkit" / "stale-read.json"
LOCK_EXPERIMENT = Path(__file__).parent / "ctk" / "lock-clock-skew.yaml"


def chaos_run(
    cli: Cli, var: str, journal: Path, experiment: Path = EXPERIMENT
) -> tuple[dict[str, object] | None, str]:
    """The journal Chaos Toolkit wrote (None if it wrote none) and what it printed.
    `var`: one configuration value, name=value."""
    chaos = shutil.which("chaos", path=str(Path(sys.executable).parent))
    assert chaos, "Chaos Toolkit's CLI is not installed (make setup installs it)"
    options = ["--rollback-strategy", "always", "--var", var]
    args = [chaos, "--no-log-file", "run", *options, "--journal-path", str(journal)]
    done = subprocess.run(
        [*args, str(experiment)],
        capture_output=True,
        text=True,
        env=cli.env,
        cwd=cli.cwd,
        timeout=120,
    )
    printed = done.stdout + done.stderr
    return (json.loads(journal.read_text()) if journal.exists() else None), printed


def test_stale_reads_deviate_and_linearizable_ones_hold(cli: Cli) -> None:
    cli("up", "--detach")
    for reads, deviated in (("linearizable", False), ("stale", True)):
        journal, printed = chaos_run(cli, f"reads={reads}", cli.cwd / f"journal-{reads}.json")
        assert journal is not None, printed
        assert journal["status"] == "completed", printed
        assert journal["deviated"] is deviated, (reads, journal["steady_states"])
        ran = [(r["activity"]["name"], r["status"]) for r in journal["run"]]  # type: ignore[index, union-attr]
        assert ran[0] == ("isolate-the-kv-leader", "succeeded"), ran
        rolled = [r["activity"]["name"] for r in journal["rollbacks"]]  # type: ignore[index, union-attr]
        assert rolled == ["heal-every-link"]


def test_a_yaml_experiment_a_fast_lock_clock_loses_an_add_unless_writes_are_fenced(
    cli: Cli,
) -> None:
    """tests/integration/ctk/lock-clock-skew.yaml: the lock leader's clock at x5 expires a
    slow holder's session; its late write loses a contender's add only when unfenced."""
    topology = "[cluster]\nbase_port = 0\n[groups.kv]\nnodes = 3\n[groups.lock]\nnodes = 3\n"
    (cli.cwd / "topology.toml").write_text(topology)
    cli("up", "--detach", "--clocks")
    for fenced, deviated in (("true", False), ("false", True)):
        journal, printed = chaos_run(
            cli, f"fenced={fenced}", cli.cwd / f"journal-{fenced}.json", LOCK_EXPERIMENT
        )
        assert journal is not None, printed
        assert journal["status"] == "completed", printed
        assert journal["deviated"] is deviated, (fenced, journal["steady_states"])
        before = journal["steady_states"]["before"]  # type: ignore[index]
        assert before["steady_state_met"] is True, before  # a healthy clock keeps every add
        rolled = [r["activity"]["name"] for r in journal["rollbacks"]]  # type: ignore[index, union-attr]
        assert rolled == ["real-time-on-every-node"]


def test_the_log_probe_and_the_leader_probe_on_a_log_cluster(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cli.cwd / "topology.toml").write_text("[cluster]\nbase_port = 0\n[groups.log]\nnodes = 3\n")
    cli("up", "--detach")
    monkeypatch.setenv("FAULTLAB_HOME", str(cli.home))
    assert probes.leader("log/meta") in {"log1", "log2", "log3"}
    assert probes.log_no_acknowledged_loss(seconds=2.0, acks="all") is True
    with pytest.raises(target.ActivityError, match="acks is one of"):
        probes.log_no_acknowledged_loss(acks="some")
    with pytest.raises(target.ActivityError, match="plain disks; start it with"):
        actions.slow_disk("log1", 50)


def test_disk_actions_and_a_power_cut_of_every_node(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("up", "--detach", "--lazy-disks")
    monkeypatch.setenv("FAULTLAB_HOME", str(cli.home))
    cli("kv", "put", "kept", "fsynced")
    assert "fsync +50 ms" in actions.slow_disk("leader", 50)
    with pytest.raises(target.ActivityError, match="no node 'kv9'"):
        actions.fail_disk("kv9")
    follower = next(n for n in ("kv1", "kv2", "kv3") if n != probes.leader())
    actions.fail_disk(follower)
    cli("kv", "put", "after", "failing")  # the follower's next fsync fails: it stops
    supervisor = target.supervisor()
    wait_until(lambda: supervisor.states()[follower].run is Run.STOPPED, 30, f"{follower} to stop")
    assert actions.heal_disks() == "every disk healthy"
    said = actions.power_cut()  # the stopped one is only powered on
    assert said.startswith("power cut kv1, kv2, kv3:") and said.endswith("serving again")
    assert probes.all_serving()
    assert cli("kv", "get", "kept").stdout.strip() == "fsynced"
    assert cli("kv", "get", "after").stdout.strip() == "failing"


KV9 = ('"node": "leader", "group": "kv"', '"node": "kv9", "group": "kv"')
LOK = ('"node": "leader", "group": "kv"', '"node": "leader", "group": "lok"')


@pytest.mark.parametrize(("change", "said"), [(KV9, "no node 'kv9'"), (LOK, "no Raft group 'lok'")])
def test_an_experiment_naming_what_the_cluster_lacks_is_interrupted_before_it_acts(
    cli: Cli, change: tuple[str, str], said: str
) -> None:
    """faultlab's control (chaos.ctk.control) checks every activity against the cluster."""
    cli("up", "--detach")
    broken = cli.cwd / "broken.json"
    broken.write_text(EXPERIMENT.read_text().replace(*change))
    journal, printed = chaos_run(cli, "reads=linearizable", cli.cwd / "journal.json", broken)
    assert journal is not None, printed
    assert journal["status"] == "interrupted" and journal["run"] == []
    assert journal["steady_states"] == {"before": None, "after": None, "during": []}
    assert f"isolate-the-kv-leader (chaos.ctk.actions.isolate): {said}" in printed


def test_an_experiment_naming_a_function_faultlab_lacks_is_refused_by_validation(
    cli: Cli,
) -> None:
    """Chaos Toolkit's own validation: no cluster is even asked."""
    broken = cli.cwd / "broken.json"
    broken.write_text(EXPERIMENT.read_text().replace('"func": "isolate"', '"func": "isolate_all"'))
    journal, printed = chaos_run(cli, "reads=linearizable", cli.cwd / "journal.json", broken)
    assert journal is None
    assert "does not expose a function called 'isolate_all'" in printed


def test_chaos_discover_by_the_distribution_name_lists_every_activity(tmp_path: Path) -> None:
    chaos = shutil.which("chaos", path=str(Path(sys.executable).parent))
    assert chaos, "Chaos Toolkit's CLI is not installed (make setup installs it)"
    found = tmp_path / "discovery.json"
    args = [chaos, "--no-log-file", "discover", "--no-install", "faultlab"]
    done = subprocess.run(
        [*args, "--discovery-path", str(found)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    discovery = json.loads(found.read_text())
    assert discovery["extension"]["name"] == "faultlab"
    listed = {(a["type"], a["name"]) for a in discovery["activities"]}
    assert listed == {("action", f) for f in actions.__all__} | {
        ("probe", f) for f in probes.__all__
    }
