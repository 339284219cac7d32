"""What `faultlab up` and `faultlab status` tell other clients: the etcd endpoints and the
Kafka bootstrap servers of the default topology, the README's numbers."""

from __future__ import annotations

from cluster.cli.endpoints import etcd_endpoints_line, kafka_bootstrap_line
from services.runtime.topology import Group, Topology


def test_the_default_cluster_names_its_etcd_endpoints_and_kafka_brokers() -> None:
    topo = Topology.from_file("topology.toml")
    assert etcd_endpoints_line(topo).startswith(
        "etcd API: etcdctl --endpoints=127.0.0.1:21007,127.0.0.1:21008,127.0.0.1:21009 "
    )
    assert (
        kafka_bootstrap_line(topo)
        == "Kafka: kcat -b 127.0.0.1:21073,127.0.0.1:21075,127.0.0.1:21077 -L"
    )


def test_a_cluster_without_log_nodes_names_no_kafka_brokers() -> None:
    assert kafka_bootstrap_line(Topology.build("127.0.0.1", 20000, (Group("kv", 1),))) == ""
