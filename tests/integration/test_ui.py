"""`faultlab ui` in a real browser (Debian's chromium, headless): the page shows the KV
nodes and their leader; selecting the leader and clicking "partition" cuts its links (the
matrix turns red) and the other two elect a new leader; "heal" mends them; the log view
shows a topic's partitions with their leaders. Then the API behind the page with bad
input, and a browser that drops its stream. Screenshots are kept in the test's folder."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from cluster import admin_client
from cluster.ports import free_ports
from cluster.waiting import wait_until
from services.runtime.topology import Topology
from tests.integration.browser import chromium
from tests.integration.clirunner import Cli

pytestmark = pytest.mark.integration

SEEN_S = 30.0  # for the page to show what the cluster did (an election included)
RUN_S = 240.0  # for a 6 s experiment to run on its own cluster, on a loaded machine
KV = ("kv1", "kv2", "kv3")
TOPOLOGY = "[cluster]\nbase_port = 0\n[groups.kv]\nnodes = 3\n[groups.log]\nnodes = 3\n"


def _serving(url: str) -> bool:
    try:
        return httpx.get(f"{url}api/state", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _ui_server(cli: Cli) -> Iterator[str]:
    """`faultlab ui` for the cluster `cli` started: the page's URL."""
    [port] = free_ports(1)
    url = f"http://127.0.0.1:{port}/"
    out = (cli.cwd / "ui.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "cluster", "ui", "--port", str(port)],
        env=cli.env,
        cwd=cli.cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: _serving(url), SEEN_S, "faultlab ui to serve")
        yield url
    finally:
        server.terminate()
        server.wait(10)
        out.close()


@pytest.fixture
def ui(cli: Cli) -> Iterator[str]:
    """A cluster of kv and log nodes, and `faultlab ui` serving it: the page's URL."""
    (cli.cwd / "topology.toml").write_text(TOPOLOGY)
    cli("up", "--detach")
    with _ui_server(cli) as url:
        yield url


def _text(driver: WebDriver, testid: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, f"[data-testid='{testid}']")
    return found[0].text if found else ""


def _until(driver: WebDriver, condition: object, what: str) -> object:
    return WebDriverWait(driver, SEEN_S).until(condition, f"the page never showed {what}")  # type: ignore[arg-type]


def _partition_leaders(driver: WebDriver) -> int:
    """How many of the topic's partitions show a log node as their leader (a partition's
    Raft group is log/orders.INCARNATION/N)."""
    cells = driver.find_elements(By.CSS_SELECTOR, "[data-testid^='leader-log/orders.']")
    return sum(1 for cell in cells if cell.text.startswith("log"))


def _link_class(driver: WebDriver, src: str, dst: str) -> str:
    cells = driver.find_elements(By.CSS_SELECTOR, f"[data-testid='link-{src}-{dst}']")
    return cells[0].get_attribute("class") or "" if cells else ""


def test_partition_the_leader_with_clicks_and_watch_a_new_one_rise(
    ui: str, cli: Cli, tmp_path: Path
) -> None:
    cli("log", "topic", "create", "orders", "--partitions", "4")
    with chromium() as page:
        page.get(ui)
        _until(page, lambda d: _text(d, "leader-kv") in KV, "a KV leader")
        leader = _text(page, "leader-kv")
        others = [n for n in KV if n != leader]
        page.save_screenshot(str(tmp_path / "1-leader.png"))

        page.find_element(By.CSS_SELECTOR, f"[data-testid='select-{leader}']").click()
        page.find_element(By.CSS_SELECTOR, "[data-testid='partition']").click()
        _until(
            page,
            lambda d: (
                all("cut" in _link_class(d, leader, o) for o in others)
                and all("cut" in _link_class(d, o, leader) for o in others)
            ),
            f"{leader}'s links cut",
        )
        _until(page, lambda d: _text(d, "leader-kv") in others, "a new KV leader")
        assert "partitioned" in _text(page, "message")
        page.save_screenshot(str(tmp_path / "2-partitioned.png"))

        page.find_element(By.CSS_SELECTOR, "[data-testid='heal']").click()
        _until(
            page,
            lambda d: all("ok" in _link_class(d, leader, o) for o in others),
            "the links whole again",
        )
        page.find_element(By.CSS_SELECTOR, f"[data-testid='link-{others[0]}-{others[1]}']").click()
        page.find_element(By.CSS_SELECTOR, "[data-testid='latency']").click()
        _until(
            page,
            lambda d: (
                _text(d, f"link-{others[0]}-{others[1]}") == "200 ms"
                and _text(d, f"link-{others[1]}-{others[0]}") == "ok"
            ),
            "one link slowed, its reverse not",
        )
        page.find_element(By.CSS_SELECTOR, "[data-testid='heal']").click()
        _until(page, lambda d: _text(d, f"link-{others[0]}-{others[1]}") == "ok", "it healed")
        events = [e.text for e in page.find_elements(By.CSS_SELECTOR, "[data-testid='event']")]
        assert any("partition: partitioned" in e for e in events), events
        assert any("heal: healed every link" in e for e in events), events

        summary = page.find_element(By.CSS_SELECTOR, "[data-testid='partitions'] summary")
        assert summary.text.startswith("4 partitions; leaders "), summary.text
        summary.click()
        _until(page, lambda d: _partition_leaders(d) == 4, "each partition's leader")
        page.save_screenshot(str(tmp_path / "3-healed-and-partitions.png"))

        Select(page.find_element(By.CSS_SELECTOR, "[data-testid='experiment']")).select_by_value(
            "stale-read"
        )
        Select(page.find_element(By.CSS_SELECTOR, "[data-testid='mode']")).select_by_visible_text(
            "unsafe"
        )
        duration = page.find_element(By.CSS_SELECTOR, "[data-testid='duration']")
        duration.clear()
        duration.send_keys("6")
        page.find_element(By.CSS_SELECTOR, "[data-testid='run']").click()
        WebDriverWait(page, RUN_S).until(
            lambda d: "done" in _text(d, "run-status"), "the experiment never finished"
        )
        assert "as hypothesized" in _text(page, "run-status"), _text(page, "run-output")
        opened = page.find_element(By.CSS_SELECTOR, "[data-testid^='open-stale-read-']")
        opened.click()
        _until(page, lambda d: "Hypothesis." in _text(d, "report"), "the run's report")
        assert _text(page, "run-title").startswith("stale-read-")
        canvas = page.find_element(By.CSS_SELECTOR, "[data-testid='timeline']")
        _until(page, lambda d: int(canvas.get_attribute("data-operations") or 0) > 0, "a timeline")
        assert int(canvas.get_attribute("data-lanes") or 0) >= 2
        assert "the checker blames" in _text(page, "verdict"), _text(page, "verdict")
        page.find_element(By.CSS_SELECTOR, "[data-testid='flagged-0']").click()
        assert _text(page, "timeline-hover").startswith("flagged: ")
        page.save_screenshot(str(tmp_path / "4-a-run-and-its-timeline.png"))


def test_writes_show_in_the_rates_from_the_nodes_metrics(ui: str, cli: Cli) -> None:
    def kv_points() -> list[dict[str, float]]:
        points: list[dict[str, float]] = httpx.get(f"{ui}api/rates", timeout=10).json()["kv"]
        return points

    wait_until(lambda: len(kv_points()) >= 2, SEEN_S, "two points of the KV group's rates")
    cli("kv", "put", "counted", "1")
    wait_until(
        lambda: any(p["ops_per_s"] > 0 and p["p99_ms"] for p in kv_points()),
        SEEN_S,
        "the put in the KV group's rates",
    )


def test_the_api_refuses_bad_input_and_outlives_a_dropped_stream(ui: str) -> None:
    def act(body: object) -> tuple[int, dict[str, str]]:
        answer = httpx.post(f"{ui}api/actions", content=json.dumps(body), timeout=30)
        return answer.status_code, answer.json()

    assert act({"action": "isolate", "node": "kv9"}) == (
        400,
        {"error": "unknown node 'kv9'; nodes: kv1, kv2, kv3, log1, log2, log3"},
    )
    status, said = act({"action": "fly"})
    assert status == 400 and said["error"].startswith("unknown action 'fly'")
    assert act(["partition"]) == (400, {"error": "the body is a JSON object"})
    status, said = act({"action": "partition", "sides": [["kv1"]]})
    assert status == 400 and "two or more lists" in said["error"]
    status, said = act({"action": "latency", "node": "kv2", "value": 0})
    assert status == 400 and "whole number above 0" in said["error"]
    status, said = act({"action": "resume", "node": "kv2"})
    assert status == 409 and "it is not paused" in said["error"]
    bad = httpx.post(f"{ui}api/actions", content=b"{not json", timeout=10)
    assert (bad.status_code, bad.json()) == (400, {"error": "the body is not JSON"})

    with httpx.stream("GET", f"{ui}api/stream", timeout=10) as stream:  # a browser that
        first = next(stream.iter_lines())  # reads one line and goes away
    assert first.startswith("event: ")
    assert httpx.get(f"{ui}api/state", timeout=10).json()["nodes"][0]["id"] == "kv1"
    refused = httpx.get(f"{ui}api/events", timeout=10).json()
    assert [e["ok"] for e in refused][:2] == [False, False]

    def run(body: object) -> tuple[int, str]:
        answer = httpx.post(f"{ui}api/experiments/run", content=json.dumps(body), timeout=30)
        return answer.status_code, answer.json()["error"]

    status, said = run({"name": "meteor"})
    assert status == 400 and said.startswith("unknown experiment 'meteor'; known: ")
    status, said = run({"name": "stale-read", "duration_s": 2})
    assert status == 400 and "duration_s is a whole number from 4 to 300" in said
    status, said = run({"name": "stale-read", "mode": "sideways"})
    assert status == 400 and "mode is unsafe, safe or both" in said
    for path in ("x/unsafe/report", "stale-read-20260101-000000/unsafe/files/report.md"):
        missing = httpx.get(f"{ui}api/runs/{path}", timeout=10)
        assert missing.status_code == 404 and "no such run file" in missing.json()["error"]
    assert httpx.get(f"{ui}api/runs", timeout=10).json() == []
    names = [e["name"] for e in httpx.get(f"{ui}api/experiments", timeout=10).json()]
    assert "stale-read" in names and "kafka-lost-ack" in names


def test_a_cluster_that_went_away_is_said_on_the_page_and_refused_by_the_controls(
    ui: str, cli: Cli
) -> None:
    cli("down")

    def problems() -> list[str]:
        found: list[str] = httpx.get(f"{ui}api/state", timeout=10).json()["problems"]
        return found

    said = wait_until(problems, SEEN_S, "the page to say the cluster is gone")
    assert any("no node answers: the cluster went away" in p for p in said), said
    answer = httpx.post(f"{ui}api/actions", json={"action": "kill", "node": "kv1"}, timeout=30)
    assert answer.status_code == 502 and "did not answer" in answer.json()["error"]
    with chromium() as page:
        page.get(ui)
        _until(page, lambda d: "the cluster went away" in _text(d, "problems"), "the banner")


def test_clock_and_disk_controls_on_a_cluster_with_both(cli: Cli) -> None:
    cli("up", "--detach", "--clocks", "--lazy-disks")
    topology = Topology.from_file(
        json.loads((cli.home / "state.json").read_text())["topology_path"]
    )

    def ahead_s(node_id: str) -> float:
        status = admin_client.fetch_status(topology.listen_address(node_id), 5.0)
        return status.wall_time_s - time.time()

    with _ui_server(cli) as url:

        def act(body: dict[str, object]) -> str:
            answer = httpx.post(f"{url}api/actions", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
            done: str = answer.json()["done"]
            return done

        assert act({"action": "skew-clock", "node": "kv2", "jump_ms": 3_600_000}).startswith(
            "clock of kv2: +3600"
        )
        assert ahead_s("kv2") > 3000 and abs(ahead_s("kv1")) < 600
        assert act({"action": "slow-disk", "node": "kv1", "fsync_ms": 50}).endswith("50 ms late")
        assert "fsync +50 ms" in cli("disk", "status").stdout
        assert act({"action": "heal-disks"}) == "every disk healthy"
        assert act({"action": "heal-clocks"}) == "every clock real again"
        assert abs(ahead_s("kv2")) < 600


def test_stopping_the_server_mid_run_ends_the_run_and_its_cluster(cli: Cli) -> None:
    """A run in progress is a process of the server's (and a cluster of that process's):
    stopping `faultlab ui` must leave none of them behind."""
    cli("up", "--detach")
    with _ui_server(cli) as url:
        body = {"name": "stale-read", "mode": "safe", "duration_s": 120}
        answer = httpx.post(f"{url}api/experiments/run", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        runs = cli.cwd / ".faultlab" / "chaos"
        wait_until(lambda: _processes_under(runs), SEEN_S, "the run's cluster to start")
    wait_until(lambda: not _processes_under(runs), SEEN_S, "the run's processes to end")


def _processes_under(folder: Path) -> list[int]:
    """Processes whose command line names `folder`: the `chaos run` (its --out), its
    nodes and its Toxiproxy."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(folder) in argv:
            found.append(int(proc.name))
    return found
