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

from chaos.ctk import probes, target
from tests.integration.clirunner import Cli

pytestmark = pytest.mark.integration

EXPERIMENT = Path(__file__).parents[2] / "docs" / "chaostoolkit" / "stale-read.json"


def chaos_run(cli: Cli, reads: str, journal: Path) -> dict[str, object]:
    chaos = shutil.which("chaos", path=str(Path(sys.executable).parent))
    assert chaos, "Chaos Toolkit's CLI is not installed (make setup installs it)"
    done = subprocess.run(
        [chaos, "--no-log-file", "run", "--rollback-strategy", "always", "--var",
         f"reads={reads}", "--journal-path", str(journal), str(EXPERIMENT)],
        capture_output=True, text=True, env=cli.env, cwd=cli.cwd, timeout=120,
    )  # fmt: skip
    assert journal.exists(), done.stdout + done.stderr
    return dict(json.loads(journal.read_text()))


def test_stale_reads_deviate_and_linearizable_ones_hold(cli: Cli) -> None:
    cli("up", "--detach")
    for reads, deviated in (("linearizable", False), ("stale", True)):
        journal = chaos_run(cli, reads, cli.cwd / f"journal-{reads}.json")
        assert journal["status"] == "completed", journal
        assert journal["deviated"] is deviated, (reads, journal["steady_states"])
        ran = [(r["activity"]["name"], r["status"]) for r in journal["run"]]  # type: ignore[index, union-attr]
        assert ran[0] == ("isolate-the-kv-leader", "succeeded"), ran
        rolled = [r["activity"]["name"] for r in journal["rollbacks"]]  # type: ignore[index, union-attr]
        assert rolled == ["heal-every-link"]


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
