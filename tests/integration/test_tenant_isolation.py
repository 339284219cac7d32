"""A tenant flooding the gateway at ten times its limit does not take what another tenant
is owed: every call the quiet tenant makes within its limit is admitted, and the noisy one
is held to its own bound. Judged by admitted counts, which a busy machine cannot change
(the latency side is measured in bench/tenant_isolation.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.pytest_plugin import make_cluster, running
from chaos.tenant_load import Tenant, neighbours
from cluster.client.gateway import gateway_addresses
from cluster.launcher import LocalCluster
from services.runtime.topology import Group

pytestmark = pytest.mark.integration

RATE, BURST = 20.0, 20
TENANTS = "\n".join(
    f"""
[tenants.{name}]
keys = ["{name}-key"]
allow = ["faultlab.kv.v1.KV/Get"]
limit = {{ algorithm = "token_bucket", rate_per_s = {RATE}, burst = {BURST} }}
"""
    for name in ("quiet", "noisy")
)
QUIET = Tenant("quiet-key", rate_per_s=RATE / 2)
NOISY = Tenant("noisy-key", rate_per_s=10 * RATE)  # open loop: the calls go out on time
SECONDS = 4.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    (tmp_path / "tenants.toml").write_text(TENANTS)
    env = {"FAULTLAB_GATEWAY_CONFIG": str(tmp_path / "tenants.toml")}
    with running(make_cluster(tmp_path, (Group("kv", 3), Group("gateway", 1)), node_env=env)) as c:
        yield c


async def test_a_noisy_tenant_at_ten_times_its_limit_takes_nothing_from_a_quiet_one(
    cluster: LocalCluster,
) -> None:
    address = next(iter(gateway_addresses(cluster.topology).values()))
    quiet, noisy = await neighbours(address, QUIET, NOISY, SECONDS)
    assert quiet and all(a.admitted for a in quiet), "the quiet tenant lost calls it was owed"
    assert len(noisy) >= 10 * RATE * SECONDS - 1  # paced by schedule, not by answers
    admitted = sum(a.admitted for a in noisy)
    # A token bucket admits at most its burst plus its rate over the time the calls took
    # (the flood's last calls may be answered a little after SECONDS).
    elapsed_s = SECONDS + max(a.latency_s for a in noisy)
    assert admitted <= BURST + RATE * elapsed_s, (admitted, len(noisy))
    assert admitted < len(noisy) / 5, "the noisy tenant was not limited"
