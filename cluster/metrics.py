"""Reading a node's Prometheus metrics from outside, as a scraper would: one sample by
name and labels, parsed by prometheus-client's own parser."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from services.runtime.topology import Topology


def metrics_url(topology: Topology, node_id: str) -> str:
    return f"http://{topology.address(topology.node(node_id).metrics_port)}/metrics"


def sample(
    topology: Topology,
    node_id: str,
    name: str,
    labels: dict[str, str] | None = None,
    timeout_s: float = 5.0,
) -> float | None:
    """The value of the sample `name` whose labels include `labels`; None when the node
    exports none (a counter never incremented has no labelled sample yet)."""
    with urllib.request.urlopen(metrics_url(topology, node_id), timeout=timeout_s) as response:
        text = response.read().decode()
    wanted = (labels or {}).items()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and wanted <= s.labels.items():
                return float(s.value)
    return None
