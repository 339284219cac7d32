"""The pytest plugin's fixtures as a user's test uses them (no conftest of ours defines
them: they arrive through the `pytest11` entry point)."""

from __future__ import annotations

import time

import pytest

from chaos.net import Network
from chaos.pytest_plugin import Clocks, Disks
from cluster import admin_client
from cluster.client import KvClient, LogClient
from cluster.launcher import LocalCluster
from services.runtime.topology import Group, Topology

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


class TestLogAndGatewayFixtures:
    """faultlab_log and faultlab_gateway_kv, with the topology a user's conftest names."""

    @pytest.fixture
    def faultlab_topology(self) -> Topology:
        groups = (Group("kv", 1), Group("log", 3), Group("gateway", 1))
        return Topology.build("127.0.0.1", 0, groups)

    async def test_a_topic_through_faultlab_log_and_a_put_through_the_gateway(
        self, faultlab_log: LogClient, faultlab_gateway_kv: KvClient
    ) -> None:
        await faultlab_log.create_topic("plugin", partitions=1)
        await faultlab_log.wait_until_ready("plugin")
        sent = await faultlab_log.produce("plugin", [b"hello"])
        got = await faultlab_log.fetch("plugin", sent.partition, sent.base_offset)
        assert [r.value for r in got.records] == [b"hello"]
        await faultlab_gateway_kv.put("via-gateway", b"1")
        assert (await faultlab_gateway_kv.get("via-gateway")).kv.value == b"1"


def test_a_fixture_whose_group_is_missing_says_how_to_add_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        pytestmark = pytest.mark.asyncio

        async def test_needs_locks(faultlab_lock):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*faultlab_lock needs a 'lock' group; this topology has kv*"])


class TestLazyDisks:
    """faultlab_disks, with faultlab_lazy_disks overridden."""

    @pytest.fixture
    def faultlab_lazy_disks(self) -> bool:
        return True

    async def test_a_power_cut_of_every_node_keeps_an_acknowledged_write(
        self, faultlab_cluster: LocalCluster, faultlab_disks: Disks, faultlab_kv: KvClient
    ) -> None:
        await faultlab_kv.put("durable", b"1")
        nodes = [n.id for n in faultlab_cluster.topology.nodes]
        reports = faultlab_disks.power_cut(nodes)
        assert set(reports) == set(nodes)
        faultlab_cluster.wait_for_leader()
        assert (await faultlab_kv.get("durable")).kv.value == b"1"  # fsync=batch: it was synced
        faultlab_disks.control("kv1").set_faults(fsync_delay_ms=50)
        faultlab_disks.control("kv1").clear_faults()


class TestFakeClocks:
    """faultlab_clocks, with faultlab_fake_clocks overridden."""

    @pytest.fixture
    def faultlab_fake_clocks(self) -> bool:
        return True

    def test_a_nodes_clock_jumps_an_hour_and_heals(
        self, faultlab_cluster: LocalCluster, faultlab_clocks: Clocks
    ) -> None:
        def ahead_s(node_id: str) -> float:
            address = faultlab_cluster.topology.listen_address(node_id)
            return admin_client.fetch_status(address, 5.0).wall_time_s - time.time()

        faultlab_clocks.skew("kv2", jump_s=3600)
        assert ahead_s("kv2") > 3000 and abs(ahead_s("kv1")) < 600
        faultlab_clocks.heal()
        assert abs(ahead_s("kv2")) < 600


def test_faultlab_clocks_without_fake_clocks_says_how_to_get_them(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_clocks(faultlab_clocks):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*faultlab_clocks needs the nodes on fake clocks*"])


def test_faultlab_disks_without_lazy_disks_says_how_to_get_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_disks(faultlab_disks):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*faultlab_disks needs the nodes on lazy disks*"])
