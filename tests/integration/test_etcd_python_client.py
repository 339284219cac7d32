"""aetcd, a Python etcd client from PyPI, against a follower's endpoint: get, put, a prefix,
a watch from a past revision, a lease kept alive and revoked. It runs as a user's program
does, in a process of its own (tests/clients/aetcd_session.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.pytest_plugin import make_cluster, running
from cluster.launcher import LocalCluster
from services.runtime.topology import Group

pytestmark = pytest.mark.integration
SESSION = Path(__file__).resolve().parents[1] / "clients" / "aetcd_session.py"


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path, (Group("kv", 3),))) as c:
        yield c


def test_aetcd_puts_gets_watches_and_leases(kv: LocalCluster) -> None:
    follower = next(n for n in kv.topology.nodes if n.id != kv.wait_for_leader())
    done = subprocess.run(
        [sys.executable, str(SESSION), kv.topology.client_address(follower.id)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "get": "1",
        "range": [["py/a", "1"], ["py/b", "2"]],
        "watch": [["PUT", "py/a", "1"], ["PUT", "py/b", "2"], ["PUT", "py/a", "3"]],
        "keepalive_ttl": 30,
        "lease_keys": ["py/leased"],
        "after_revoke": True,
    }
