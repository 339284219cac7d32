"""chaos/net refuses faults that name what the topology lacks, before calling Toxiproxy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from chaos.net import Cut, NetError, Network
from cluster.toxiproxy import AlreadyExists, ToxiproxyClient
from services.runtime.topology import Group, Topology


class RecordingToxiproxy(ToxiproxyClient):
    """Records the toxics a fault asks for; answers 409 for a duplicate, as Toxiproxy does."""

    def __init__(self) -> None:
        self.toxics: set[tuple[str, str]] = set()
        self.disabled: set[str] = set()

    def add_toxic(
        self,
        proxy: str,
        name: str,
        kind: str,
        stream: Any,
        attributes: Mapping[str, int | float],
        toxicity: float = 1.0,
    ) -> None:
        if (proxy, name) in self.toxics:
            raise AlreadyExists(f"{proxy}/{name}")
        self.toxics.add((proxy, name))

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        (self.disabled.discard if enabled else self.disabled.add)(proxy)


@pytest.fixture
def net() -> tuple[Network, RecordingToxiproxy]:
    topo = Topology.build("127.0.0.1", 20000, (Group("kv", 3), Group("lock", 2)))
    tp = RecordingToxiproxy()
    return Network(tp, topo), tp


def test_partition_cuts_both_directions(net: tuple[Network, RecordingToxiproxy]) -> None:
    network, tp = net
    cut = network.partition([["kv1"], ["kv2", "kv3"]])
    pairs = ["kv1_to_kv2", "kv1_to_kv3", "kv2_to_kv1", "kv3_to_kv1"]
    # each pair's gRPC link and its Raft frames' link, so a cut holds for either transport
    assert sorted(cut) == sorted([*pairs, *(f"{p}_raft" for p in pairs)])
    assert len(tp.toxics) == 16  # upstream and downstream on each


def test_cutting_twice_is_harmless(net: tuple[Network, RecordingToxiproxy]) -> None:
    network, _ = net
    network.isolate("kv1")
    network.partition([["kv1"], ["kv2"]])


def test_refuse_disables_proxies(net: tuple[Network, RecordingToxiproxy]) -> None:
    network, tp = net
    network.partition_one_way(["kv1"], ["kv2"], Cut.REFUSE)
    assert tp.disabled == {"kv1_to_kv2", "kv1_to_kv2_raft"} and not tp.toxics


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (lambda n: n.partition([["kv1"], ["kv9"]]), "unknown node"),
        (lambda n: n.partition([["kv1"], ["kv1", "kv2"]]), "on two sides"),
        (lambda n: n.latency(("kv1", "lock1"), 100), "no link kv1->lock1"),
        (lambda n: n.latency("nope", 100), "unknown node"),
        (lambda n: n.cut_link("kv1", "kv1"), "no link kv1->kv1"),
    ],
)
def test_bad_faults_are_refused(
    net: tuple[Network, RecordingToxiproxy], fault: Any, message: str
) -> None:
    network, tp = net
    with pytest.raises(NetError, match=message):
        fault(network)
    assert not tp.toxics, "a refused fault must change nothing"
