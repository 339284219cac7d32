"""cache-feedback's warm-up on a real cluster: a gateway whose cache Watch connected
after the good value's write (a restart here; a first Watch that met a store still
starting, in the run that failed) is still found watching, and its cache warmed."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.cache_feedback import GOOD, KEY
from chaos.experiments.cache_feedback import EXPERIMENT, WATCH_REVISION, _warm
from cluster.client import SyncKvClient
from cluster.launcher import LocalCluster
from cluster.metrics import sample

pytestmark = pytest.mark.integration


def test_a_watch_that_connected_after_the_write_is_waited_for_with_a_new_write(
    tmp_path: Path,
) -> None:
    with LocalCluster(EXPERIMENT.topology, tmp_path, node_env=EXPERIMENT.safe.node_env) as cluster:
        cluster.wait_for_leader()
        with SyncKvClient.for_topology(cluster.topology) as kv:
            revision = kv.put(KEY, GOOD).revision
        cluster.restart("gateway1")  # its Watch now starts after `revision`: never sees it
        _warm(cluster, revision)
        for gateway in ("gateway1", "gateway2"):
            delivered = sample(cluster.topology, gateway, WATCH_REVISION) or 0
            assert delivered > revision  # the write made again for gateway1's sake
