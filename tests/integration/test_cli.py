"""The README's CLI path: up --detach, status, net, down, as a user types them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaos.ctk import actions as ctk_actions
from chaos.disk.mounts import mounted_disks
from chaos.pytest_plugin import pid_alive
from cluster import admin_client
from cluster.waiting import wait_until
from services.runtime.topology import Topology
from tests.integration.clirunner import Cli
from tests.integration.netcheck import NOTICE_S

pytestmark = pytest.mark.integration


def test_up_status_partition_heal_down(cli: Cli) -> None:
    cli("up", "--detach")
    supervisor = json.loads((cli.home / "state.json").read_text())["supervisor_pid"]

    out = cli("status").stdout
    assert out.count("serving") == 3 and "reachability" in out
    assert "etcd API: etcdctl --endpoints=127.0.0.1:" in out  # the kv nodes' client links
    # The raft groups table: the kv group, one leader (L term/applied), two followers.
    _wait_for_status(
        cli,
        lambda s: (
            len(re.findall(r"\bL \d+/\d+", s)) == 1 and len(re.findall(r"\bF \d+/\d+", s)) == 2
        ),
    )

    assert "kv1_to_kv2" in cli("net", "partition", "kv1", "kv2,kv3").stdout
    _wait_for_status(cli, lambda s: s.count("✗") == 4)
    cli("net", "heal")
    _wait_for_status(cli, lambda s: "✗" not in s and s.count("✓") == 6)

    cli("net", "latency", "kv1:kv2", "200ms")
    cli("down")
    assert not pid_alive(supervisor)
    assert not (cli.home / "state.json").exists()


def test_lazy_disks_slow_fail_heal_and_nothing_left_mounted(cli: Cli) -> None:
    cli("up", "--detach", "--lazy-disks")
    run_dir = Path(json.loads((cli.home / "state.json").read_text())["run_dir"])
    assert len([m for m in mounted_disks() if m.is_relative_to(run_dir.resolve())]) == 3
    cli("kv", "put", "greeting", "hello")
    cli("disk", "slow", "kv2", "--fsync", "50ms")
    cli("disk", "fail", "kv3")
    out = cli("status").stdout
    assert "lazy disks" in out and "fsync +50 ms" in out and "fsync EIO" in out
    cli("disk", "heal")
    assert "fsync" not in cli("disk", "status").stdout.split("power cuts")[1]
    result = cli("disk", "slow", "kv9", "--fsync", "5ms", check=False)
    assert result.returncode == 1 and "kv9 has no lazy disk" in result.stderr
    cli("down")
    assert not [m for m in mounted_disks() if m.is_relative_to(run_dir.resolve())]


def test_a_disk_experiment_without_fuse_says_what_is_missing(cli: Cli, tmp_path: Path) -> None:
    cli.env["PATH"] = str(tmp_path)  # no fusermount3 on it
    result = cli("chaos", "run", "no-fsync", check=False)
    assert result.returncode == 1
    assert "FUSE cannot be used here" in result.stderr and "fusermount3" in result.stderr


def test_a_disk_experiment_and_lazy_disks_work_from_relative_folders(cli: Cli) -> None:
    """Run folders given relative to the working folder, as the README's defaults are."""
    result = cli(
        "chaos",
        "run",
        "no-fsync",
        "--mode",
        "safe",
        "--duration",
        "4s",
        "--out",
        "runs",
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reports = list((cli.cwd / "runs").glob("no-fsync-*/safe/report.md"))
    assert len(reports) == 1 and "behaved as the hypothesis says: yes" in reports[0].read_text()

    cli("up", "--detach", "--lazy-disks", "--run-dir", "relative-run")
    cli("kv", "put", "greeting", "hello")
    assert cli("kv", "get", "greeting").stdout.strip() == "hello"
    assert "lazy disks" in cli("status").stdout
    cli("down")
    assert not [m for m in mounted_disks() if m.is_relative_to(cli.cwd)]


def test_disk_commands_on_plain_disks_say_how_to_get_lazy_ones(cli: Cli) -> None:
    cli("up", "--detach")
    result = cli("disk", "status", check=False)
    assert result.returncode == 1 and "faultlab up --lazy-disks" in result.stderr


def test_bad_input_gets_a_clear_error(cli: Cli) -> None:
    result = cli("status", check=False)
    assert result.returncode == 1 and "no cluster is running" in result.stderr
    result = cli("up", "--topology", "missing.toml", check=False)
    assert result.returncode == 2 and "cannot read topology file" in result.stderr

    cli("up", "--detach")
    result = cli("net", "partition", "kv1", "kv9", check=False)
    assert result.returncode == 1 and "unknown node(s) kv9" in result.stderr
    result = cli("net", "latency", "kv1", "fast", check=False)
    assert result.returncode == 2 and "not a duration" in result.stderr
    result = cli("up", "--detach", check=False)
    assert result.returncode == 1 and "already running" in result.stderr


@pytest.fixture
def lock_cli(tmp_path: Path) -> Iterator[Cli]:
    (tmp_path / "topology.toml").write_text("[cluster]\nbase_port = 0\n[groups.lock]\nnodes = 3\n")
    c = Cli(tmp_path / "home", tmp_path)
    try:
        yield c
    finally:
        c("down", check=False)


# The sessions' TTLs outlast every step here, however slow the machine: the test is about
# the commands, and a lock expiring mid-test would turn the busy `acquire` below into a
# foreground holder that never returns.
LONG_TTL = "120s"


def test_lock_commands(lock_cli: Cli) -> None:
    lock_cli("up", "--detach")
    out = lock_cli("lock", "acquire", "jobs", "--ttl", LONG_TTL, "--detach").stdout
    token, session = re.search(r"acquired jobs token=(\d+) session=(\d+)", out).groups()  # type: ignore[union-attr]
    assert f"session {session}" in lock_cli("lock", "holder", "jobs").stdout
    assert f"token={token}" in lock_cli("lock", "holder", "jobs").stdout
    assert session in lock_cli("lock", "sessions").stdout
    busy = lock_cli("lock", "acquire", "jobs", check=False)
    assert busy.returncode == 2 and f"held by session {session}" in busy.stderr
    assert "released jobs" in lock_cli("lock", "release", "jobs", "--session", session).stdout
    assert lock_cli("lock", "holder", "jobs", check=False).returncode == 1

    # Without --detach it holds until interrupted, then releases.
    holding = subprocess.Popen(
        [sys.executable, "-m", "cluster", "lock", "acquire", "jobs", "--ttl", LONG_TTL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=lock_cli.env,
        cwd=lock_cli.cwd,
    )
    try:
        assert holding.stdout is not None
        first = holding.stdout.readline()
        assert "acquired jobs" in first, first + (holding.stderr.read() if holding.stderr else "")
        assert int(first.split("token=")[1].split()[0]) > int(token)
        _interrupt_a_waiter(lock_cli)
        holding.send_signal(signal.SIGINT)
        out, _ = holding.communicate(timeout=30)
        assert holding.returncode == 0 and "released jobs" in out
    finally:
        holding.kill()
        holding.wait()
    assert lock_cli("lock", "holder", "jobs", check=False).returncode == 1

    bad = lock_cli("lock", "acquire", "", check=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr
    bad = lock_cli("lock", "acquire", "jobs", "--ttl", "fast", check=False)
    assert bad.returncode == 2 and "not a duration" in bad.stderr


@pytest.fixture
def log_cli(tmp_path: Path) -> Iterator[Cli]:
    (tmp_path / "topology.toml").write_text("[cluster]\nbase_port = 0\n[groups.log]\nnodes = 3\n")
    c = Cli(tmp_path / "home", tmp_path)
    try:
        yield c
    finally:
        c("down", check=False)


def test_log_commands(log_cli: Cli) -> None:
    log_cli("up", "--detach")
    assert (
        "created orders: 3 partitions, replication 3"
        in log_cli("log", "topic", "create", "orders", "--partitions", "3").stdout
    )
    lines = "".join(f"line {i}\n" for i in range(10))
    out = log_cli("log", "produce", "orders", "--key", "k", stdin=lines).stdout
    landed = re.search(r"10 records -> partition (\d) offset 0", out)
    assert landed, out
    partition = landed.group(1)
    consumed = log_cli("log", "consume", "orders", "--from-beginning", "-n", "10").stdout
    assert [line.split(" ", 3)[3] for line in consumed.splitlines()] == [
        f"line {i}" for i in range(10)
    ]
    in_group = log_cli("log", "consume", "orders", "--group", "g1", "-n", "10").stdout
    assert len(in_group.splitlines()) == 10
    assert f"orders/{partition}=10" in log_cli("log", "groups").stdout  # committed as it went
    described = log_cli("log", "topic", "describe", "orders").stdout
    assert "log1" in described and "10" in described, described
    assert "orders" in log_cli("log", "topic", "list").stdout
    # Idle now: every node's copy of every partition goes quiet, and status says so.
    _wait_for_status(log_cli, lambda s: len(re.findall(r"log/orders\S*/\d.*", s)) == 3)
    _wait_for_status(
        log_cli,
        lambda s: sum(line.count(" z") for line in re.findall(r"log/orders\S*/\d.*", s)) == 9,
    )
    again = log_cli("log", "topic", "create", "orders", check=False)
    assert again.returncode == 1 and "ALREADY_EXISTS" in again.stderr
    empty = log_cli("log", "produce", "orders", stdin="", check=False)
    assert empty.returncode == 2 and "stdin was empty" in empty.stderr
    assert "deleted orders" in log_cli("log", "topic", "delete", "orders").stdout
    gone = log_cli("log", "topic", "describe", "orders", check=False)
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr


def _interrupt_a_waiter(lock_cli: Cli) -> None:
    """Ctrl-C while waiting in the queue: exit 130, and the session leaves the queue."""
    waiting = subprocess.Popen(
        [sys.executable, "-m", "cluster", "lock", "acquire", "jobs", "--wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=lock_cli.env,
        cwd=lock_cli.cwd,
    )
    try:
        queued = lambda: "1 waiting" in lock_cli("lock", "holder", "jobs").stdout  # noqa: E731
        wait_until(queued, 30.0, "the waiter to queue", 0.1)
        waiting.send_signal(signal.SIGINT)
        _, errs = waiting.communicate(timeout=30)
        assert waiting.returncode == 130 and "not acquired" in errs, errs
    finally:
        waiting.kill()
        waiting.wait()
    assert "0 waiting" in lock_cli("lock", "holder", "jobs").stdout


def _wait_for_status(cli: Cli, ok: Callable[[str], bool]) -> None:
    wait_until(lambda: ok(cli("status").stdout), NOTICE_S, "status to show the change", 0.3)


def test_kv_lock_and_log_through_the_gateway_and_its_limits(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "topology.toml").write_text(
        "[cluster]\nbase_port = 0\n[groups.kv]\nnodes = 3\n[groups.lock]\nnodes = 1\n"
        "[groups.log]\nnodes = 1\n[groups.gateway]\nnodes = 1\n"
    )
    cli("up", "--detach")
    assert "OK revision=" in cli("kv", "--via-gateway", "put", "gw", "hello").stdout
    assert cli("kv", "get", "gw").stdout.strip() == "hello"
    denied = cli("kv", "--via-gateway", "--api-key", "wrong", "get", "gw", check=False)
    assert denied.returncode == 1 and "UNAUTHENTICATED" in denied.stderr
    assert "session" in cli("lock", "--via-gateway", "sessions").stdout.lower()
    gw_log = ("log", "--via-gateway")
    cli(*gw_log, "topic", "create", "gw-topic", "--partitions", "2")
    assert "gw-topic" in cli(*gw_log, "topic", "list").stdout
    produced = cli(*gw_log, "produce", "gw-topic", "--partition", "1", stdin="a\nb\n").stdout
    assert "2 records -> partition 1 offset 0" in produced
    consumed = cli(*gw_log, "consume", "gw-topic", "-p", "1", "--from-beginning", "-n", "2")
    assert [line.split()[-1] for line in consumed.stdout.splitlines()] == ["a", "b"]
    limits = cli("gateway", "limits").stdout
    assert "demo" in limits and "token_bucket" in limits and "fixed_window" in limits


def test_node_controls_each_verb_and_what_does_not_apply(cli: Cli) -> None:
    cli("up", "--detach")
    cli("kv", "put", "greeting", "hello")

    assert "paused kv1" in cli("node", "pause", "kv1").stdout
    assert re.search(r"kv1 .*paused", cli("status").stdout)
    again = cli("node", "pause", "kv1", check=False)
    assert again.returncode == 1 and "it is paused already" in again.stderr
    stop_paused = cli("node", "stop", "kv1", check=False)
    assert stop_paused.returncode == 1 and "resume it first, or kill it" in stop_paused.stderr
    assert "resumed kv1" in cli("node", "resume", "kv1").stdout
    not_paused = cli("node", "resume", "kv1", check=False)
    assert not_paused.returncode == 1 and "cannot resume kv1: it is running" in not_paused.stderr

    assert "stopped kv2" in cli("node", "stop", "kv2").stdout
    assert re.search(r"kv2 .*stopped", cli("status").stdout)
    assert cli("node", "stop", "kv2", check=False).returncode == 1
    assert cli("node", "pause", "kv2", check=False).returncode == 1
    assert "started kv2: serving" in cli("node", "start", "kv2").stdout
    running = cli("node", "start", "kv2", check=False)
    assert running.returncode == 1 and "it is running already" in running.stderr

    assert "killed kv3 (SIGKILL; exit -9)" in cli("node", "kill", "kv3").stdout
    assert re.search(r"kv3 .*stopped \(exit -9\)", cli("status").stdout)
    assert "restarted kv3: serving" in cli("node", "restart", "kv3").stdout
    assert "restarted kv1: serving" in cli("node", "restart", "kv1").stdout

    unknown = cli("node", "kill", "kv9", check=False)
    assert unknown.returncode == 1 and "unknown node 'kv9'" in unknown.stderr
    assert cli("kv", "get", "greeting").stdout.strip() == "hello"
    assert cli("status").stdout.count("serving") == 3


def test_the_readme_walk_through_kill_9_the_leader_then_bring_it_back(cli: Cli) -> None:
    cli("up", "--detach")
    topology = Topology.from_file(
        json.loads((cli.home / "state.json").read_text())["topology_path"]
    )
    leader = wait_until(
        lambda: admin_client.leader_of(topology, topology.node_ids, "kv"), NOTICE_S, "a kv leader"
    )
    pid = admin_client.fetch_status(topology.listen_address(leader), 2.0).pid
    assert re.search(rf"{leader} .*serving.*{pid}", cli("status").stdout)  # the table's pid
    os.kill(pid, signal.SIGKILL)
    assert "OK revision=" in cli("kv", "put", "after", "election").stdout  # the others took over
    _wait_for_status(cli, lambda s: bool(re.search(rf"{leader} .*stopped \(exit -9\)", s)))
    assert "serving" in cli("node", "start", leader).stdout
    assert cli("status").stdout.count("serving") == 3
    assert cli("kv", "get", "after").stdout.strip() == "election"


def test_up_with_tls_and_the_cli_follows(cli: Cli) -> None:
    cli("up", "--detach", "--tls")
    state = json.loads((cli.home / "state.json").read_text())
    assert Path(state["tls_dir"], "ca.pem").exists()
    assert "OK revision=" in cli("kv", "put", "greeting", "hello").stdout
    assert cli("kv", "get", "greeting").stdout.strip() == "hello"
    assert cli("status").stdout.count("serving") == 3
    assert "killed kv3" in cli("node", "kill", "kv3").stdout
    assert "started kv3: serving" in cli("node", "start", "kv3").stdout  # waits over TLS


def test_a_scenario_script_runs_like_a_catalogue_entry(cli: Cli) -> None:
    """docs/scenarios/one_way_leader.py through `faultlab chaos run`: it behaves as its
    hypothesis says, with the catalogue's report folder; a broken script is refused
    before any cluster starts."""
    example = Path(__file__).parents[2] / "docs" / "scenarios" / "one_way_leader.py"
    result = cli("chaos", "run", str(example), "--duration", "12s", "--out", "runs", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    [folder] = list((cli.cwd / "runs").glob("one-way-leader-*/safe"))
    for name in ("report.md", "timeline.png", "history.jsonl", "journal.json", "summary.json"):
        assert (folder / name).is_file(), name
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["behaved_as_hypothesized"] and not summary["anomaly"]
    assert [f[0] for f in summary["faults"]] == ["one-way-outbound-leader"]
    journal = json.loads((folder / "journal.json").read_text())
    assert journal["deviated"] is False

    broken = cli.cwd / "broken.py"
    broken.write_text(example.read_text().replace("start=0.3, end=0.6", "start=0.7, end=0.6"))
    refused = cli("chaos", "run", str(broken), check=False)
    assert refused.returncode == 2
    assert "broken.py" in refused.stderr and "from 0.7 to 0.6" in refused.stderr
    unsafe = cli("chaos", "run", str(example), "--mode", "unsafe", "--out", "runs", check=False)
    assert unsafe.returncode == 2 and "one mode only" in unsafe.stderr
    assert len(list((cli.cwd / "runs").iterdir())) == 1  # neither refusal started a run


def test_clock_skew_shows_in_status_lasts_across_a_restart_and_heals(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("up", "--detach")
    plain = cli("clock", "skew", "kv2", "+1s", check=False)
    assert plain.returncode == 1 and "faultlab up --clocks" in plain.stderr
    cli("down")

    cli("up", "--detach", "--clocks")
    assert "kv2: clock +30000ms x0.5" in cli("clock", "skew", "kv2", "x0.5", "+30s").stdout
    assert "kv3: clock -2000ms" in cli("clock", "skew", "kv3", "-2s").stdout
    bad = cli("clock", "skew", "kv2", "sideways", check=False)
    assert bad.returncode == 2 and "a rate like x0.5" in bad.stderr

    def node_read(node: str) -> float:
        row = re.search(rf"{node} .*node read ([+-][\d.]+)s", cli("status").stdout)
        assert row, cli("status").stdout
        return float(row.group(1))

    # What the node's own process reads, not only what its control file says; after a
    # restart too (the new process continues the skewed clock, it does not replay it).
    assert 20 < node_read("kv2") <= 30.5 and -2.5 < node_read("kv3") < -1.5
    assert "restarted kv2: serving" in cli("node", "restart", "kv2").stdout
    assert 20 < node_read("kv2") <= 30.5
    cli("kv", "put", "k", "v")  # a cluster with skewed clocks still serves
    assert "kv2: clock real" in cli("clock", "heal").stdout
    assert "node read" not in cli("status").stdout

    # The Chaos Toolkit actions drive the same clocks (chaos/ctk/actions.py).
    monkeypatch.setenv("FAULTLAB_HOME", str(cli.home))
    done = ctk_actions.skew_clock("leader", jump_ms=-3000)
    assert re.fullmatch(r"clock of kv\d: -3000ms", done), done
    assert -3.5 < node_read(done.split()[2].rstrip(":")) < -2.5
    assert ctk_actions.heal_clocks() == "every clock real"


def test_compose_up_without_a_compose_file_says_how_to_get_one(cli: Cli) -> None:
    """Compose itself prints "no configuration file provided" and exits 0: caught first,
    before any image is built or engine asked."""
    (cli.cwd / "topology.toml").write_text("[cluster]\nbase_port = 34000\n[groups.kv]\nnodes = 3\n")
    result = cli("compose", "up", check=False)
    assert result.returncode == 1
    assert "no docker-compose.yml in" in result.stderr
    assert "faultlab compose render" in result.stderr
    assert not (cli.home / "state.json").exists()
