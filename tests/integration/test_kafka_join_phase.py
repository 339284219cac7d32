"""The classic group protocol's join phase when a JoinGroup comes late: while the
coordinator proposes the generation it has gathered, a new JoinGroup can no longer join
it. Kafka's coordinator never answers JoinGroup with REBALANCE_IN_PROGRESS (aiokafka and
others give up on it as an unexpected error): the late member waits and joins the next
generation, and the members of this one are told to rejoin by their heartbeats.

The proposal is held open (the groups leader's followers answer it through SLOW_MS of
latency: their answers travel on their own links to it, upstream), and the late JoinGroup
is sent once the leader's log shows the proposal waiting for its quorum, so it lands in
that window. Should a starved machine still miss the window, the late member's JoinGroup
simply opens the next phase itself, and the test checks the same outcome."""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.schema.heartbeat.v4.request import HeartbeatRequest
from kio.schema.join_group.v3.request import JoinGroupRequest, JoinGroupRequestProtocol

from cluster import admin_client
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from tests.integration.kafka import kafka_cluster
from tests.integration.kafka_wire import Wire

pytestmark = pytest.mark.integration

GROUP = "late-joiners"
GROUPS_RAFT = "log/groups"
SLOW_MS = 300  # under the leader's CheckQuorum interval, so it is not deposed
ANSWER_S = 60.0
JOIN_GROUP, HEARTBEAT = 11, 12


def join(address: str, member_id: str) -> Any:
    """JoinGroup v3: a member without an id is given one and joins at once (no KIP-394)."""
    request = JoinGroupRequest(
        group_id=GROUP,
        session_timeout=datetime.timedelta(seconds=30),
        rebalance_timeout=datetime.timedelta(seconds=30),
        member_id=member_id,
        protocol_type="consumer",
        protocols=(JoinGroupRequestProtocol(name="range", metadata=b""),),
    )
    wire = Wire(address)
    try:
        return wire.call(JOIN_GROUP, 3, request)
    finally:
        wire.close()


def heartbeat(address: str, generation: int, member_id: str) -> ErrorCode:
    request = HeartbeatRequest(
        group_id=GROUP, generation_id=generation, member_id=member_id, group_instance_id=None
    )
    wire = Wire(address)
    try:
        return wire.call(HEARTBEAT, 4, request).error_code
    finally:
        wire.close()


def proposing(cluster: LocalCluster, leader: str) -> bool:
    """The groups leader holds an entry its quorum has not acknowledged yet."""
    status = admin_client.fetch_status(cluster.topology.listen_address(leader), 2.0)
    view = admin_client.group_view(status, GROUPS_RAFT)
    return view is not None and view.last_index > view.commit_index


def test_a_join_during_a_generations_proposal_joins_the_next_one(tmp_path: Path) -> None:
    with kafka_cluster(tmp_path) as cluster:
        leader = cluster.wait_for_leader(group=GROUPS_RAFT)
        coordinator = cluster.topology.wire_address(leader)  # the groups leader coordinates
        for follower in cluster.topology.group_nodes("log"):
            if follower.id != leader:  # both links: whichever transport carries Raft
                for link in cluster.topology.links_between(follower.id, leader):
                    cluster.toxiproxy.add_toxic(
                        link.name, "slow_answers", "latency", "upstream", {"latency": SLOW_MS}
                    )
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(join, coordinator, "")
            wait_until(lambda: proposing(cluster, leader), ANSWER_S, "generation 1's proposal")
            late = pool.submit(join, coordinator, "")
            formed = first.result(ANSWER_S)
            assert (formed.error_code, formed.generation_id) == (ErrorCode.none, 1)
            assert formed.leader == formed.member_id, "the first member leads generation 1"
            # The late member's JoinGroup opened the next phase; the others learn it so.
            beat = heartbeat(coordinator, formed.generation_id, formed.member_id)
            assert beat == ErrorCode.rebalance_in_progress
            rejoined = join(coordinator, formed.member_id)
            joined = late.result(ANSWER_S)
        assert joined.error_code == ErrorCode.none, joined.error_code
        assert rejoined.generation_id == joined.generation_id == 2
        assert {m.member_id for m in rejoined.members} == {formed.member_id, joined.member_id}
