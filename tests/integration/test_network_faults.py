"""Partitions, cuts and latency on real links between real processes."""

from __future__ import annotations

import pytest

from chaos.net import Cut, Network
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from tests.integration.netcheck import all_pairs, rtt_ms, wait_reachability

pytestmark = pytest.mark.integration


def network(cluster: LocalCluster) -> Network:
    assert cluster.toxiproxy is not None
    return Network(cluster.toxiproxy, cluster.topology)


def test_partition_cuts_across_sides_and_heal_restores(faultlab_cluster: LocalCluster) -> None:
    wait_reachability(faultlab_cluster, all_pairs(faultlab_cluster, True))
    net = network(faultlab_cluster)

    cut = net.partition([["kv1"], ["kv2", "kv3"]])

    # every link between the sides: gRPC's and Raft's framed transport's
    pairs = ["kv1_to_kv2", "kv1_to_kv3", "kv2_to_kv1", "kv3_to_kv1"]
    assert sorted(cut) == sorted([*pairs, *(f"{p}_raft" for p in pairs)])
    wait_reachability(
        faultlab_cluster,
        {
            ("kv1", "kv2"): False,
            ("kv1", "kv3"): False,
            ("kv2", "kv1"): False,
            ("kv3", "kv1"): False,
            ("kv2", "kv3"): True,
            ("kv3", "kv2"): True,
        },
    )
    net.heal()
    wait_reachability(faultlab_cluster, all_pairs(faultlab_cluster, True))


@pytest.mark.parametrize("kind", [Cut.RESET, Cut.REFUSE])
def test_every_kind_of_cut_cuts(faultlab_cluster: LocalCluster, kind: Cut) -> None:
    net = network(faultlab_cluster)
    net.isolate("kv3", kind)
    wait_reachability(
        faultlab_cluster, {("kv3", "kv1"): False, ("kv1", "kv3"): False, ("kv1", "kv2"): True}
    )
    net.heal()
    wait_reachability(faultlab_cluster, all_pairs(faultlab_cluster, True))


def test_one_way_partition_cuts_one_direction(faultlab_cluster: LocalCluster) -> None:
    net = network(faultlab_cluster)
    assert net.partition_one_way(["kv1"], ["kv2"]) == ["kv1_to_kv2", "kv1_to_kv2_raft"]
    wait_reachability(faultlab_cluster, {("kv1", "kv2"): False, ("kv2", "kv1"): True})
    net.heal()
    wait_reachability(faultlab_cluster, {("kv1", "kv2"): True})


def test_latency_on_one_link_slows_only_that_link(faultlab_cluster: LocalCluster) -> None:
    wait_reachability(faultlab_cluster, all_pairs(faultlab_cluster, True))
    network(faultlab_cluster).latency(("kv1", "kv2"), 200)

    # The next probe on kv1->kv2 after the toxic is in place must take >= 200 ms.
    wait_until(
        lambda: rtt_ms(faultlab_cluster, "kv1", "kv2") >= 200, 10.0, "kv1->kv2 RTT >= 200 ms"
    )
    for src, dst in [("kv1", "kv3"), ("kv2", "kv1"), ("kv2", "kv3"), ("kv3", "kv2")]:
        assert rtt_ms(faultlab_cluster, src, dst) < 150, f"{src}->{dst} was slowed too"


def test_a_node_latency_slows_every_link_into_it(faultlab_cluster: LocalCluster) -> None:
    slowed = network(faultlab_cluster).latency("kv3", 150)
    assert sorted(slowed) == [
        "client_to_kv3",
        "kv1_to_kv3",
        "kv1_to_kv3_raft",
        "kv2_to_kv3",
        "kv2_to_kv3_raft",
    ]
    wait_until(
        lambda: (
            rtt_ms(faultlab_cluster, "kv1", "kv3") >= 150
            and rtt_ms(faultlab_cluster, "kv2", "kv3") >= 150
        ),
        10.0,
        "RTT into kv3 >= 150 ms",
    )
    assert rtt_ms(faultlab_cluster, "kv1", "kv2") < 100
