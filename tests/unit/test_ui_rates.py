"""The page's throughput and latency read from histogram deltas (cluster/cli/ui/rates.py)."""

from __future__ import annotations

import math

import pytest

from cluster.cli.ui.rates import Cumulative, parse, quantile

TEXT = """# TYPE faultlab_raft_proposal_seconds histogram
faultlab_raft_proposal_seconds_bucket{group="kv",le="0.001"} 10.0
faultlab_raft_proposal_seconds_bucket{group="kv",le="0.01"} 90.0
faultlab_raft_proposal_seconds_bucket{group="kv",le="+Inf"} 100.0
faultlab_raft_proposal_seconds_count{group="kv"} 100.0
faultlab_raft_proposal_seconds_sum{group="kv"} 0.5
faultlab_raft_proposal_seconds_bucket{group="log/meta",le="0.001"} 0.0
faultlab_raft_proposal_seconds_bucket{group="log/meta",le="0.01"} 10.0
faultlab_raft_proposal_seconds_bucket{group="log/meta",le="+Inf"} 10.0
"""


def test_a_nodes_groups_sum_into_one_histogram() -> None:
    assert parse(TEXT).buckets == {0.001: 10.0, 0.01: 100.0, math.inf: 110.0}


def test_quantiles_interpolate_within_a_bucket_as_prometheus_does() -> None:
    buckets = {0.001: 10.0, 0.01: 90.0, math.inf: 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.001 + 0.009 * (50 - 10) / 80)
    assert quantile(0.99, buckets) == 0.01  # in +Inf: the last finite bound
    assert quantile(0.5, {0.001: 0.0, math.inf: 0.0}) is None


def test_a_restarted_node_counts_from_zero() -> None:
    before = Cumulative({0.001: 50.0, math.inf: 60.0})
    after = Cumulative({0.001: 55.0, math.inf: 70.0})
    assert after.minus(before) == {0.001: 5.0, math.inf: 10.0}
    restarted = Cumulative({0.001: 3.0, math.inf: 4.0})
    assert restarted.minus(after) == {0.001: 3.0, math.inf: 4.0}
