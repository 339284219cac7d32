"""The pytest plugin's fixtures as a user's test uses them (no conftest of ours defines
them: they arrive through the `pytest11` entry point)."""

from __future__ import annotations

import pytest

from chaos.net import Network
from cluster.client import KvClient
from cluster.launcher import LocalCluster

pytestmark = pytest.mark.integration


async def test_writes_go_on_while_the_leader_is_cut_off(
    faultlab_cluster: LocalCluster, faultlab_net: Network, faultlab_kv: KvClient
) -> None:
    await faultlab_kv.put("before", b"1")
    old = faultlab_cluster.wait_for_leader()
    faultlab_net.isolate(old)
    majority = [n.id for n in faultlab_cluster.topology.nodes if n.id != old]
    new = faultlab_cluster.wait_for_leader(majority, not_=old)
    assert new != old
    await faultlab_kv.put("during", b"2")  # the client finds the new leader itself
    faultlab_net.heal()
    assert (await faultlab_kv.get("during")).kv.value == b"2"


class TestUnderTls:
    """The same fixtures with `faultlab_tls` overridden, as a user's conftest would."""

    @pytest.fixture
    def faultlab_tls(self) -> bool:
        return True

    async def test_the_fixtures_work_over_mutual_tls(
        self, faultlab_cluster: LocalCluster, faultlab_kv: KvClient
    ) -> None:
        assert faultlab_cluster.tls_dir is not None
        await faultlab_kv.put("secure", b"1")
        assert (await faultlab_kv.get("secure")).kv.value == b"1"
