"""The Kafka APIs the door answers and the versions it offers in ApiVersions: a Kafka 3.x
broker's, from the lowest version kio (and Kafka 4) still reads. Fetch and Produce stop
before topic ids replaced topic names (KIP-516: Fetch 13, Produce 13); clients negotiate
down to these, as they do with a 3.x broker."""

from __future__ import annotations

from kio.schema.index import api_key_map

# api key -> (min version, max version)
SUPPORTED: dict[int, tuple[int, int]] = {
    0: (3, 9),  # Produce
    1: (4, 12),  # Fetch
    2: (1, 7),  # ListOffsets
    3: (0, 12),  # Metadata
    8: (2, 8),  # OffsetCommit
    9: (1, 7),  # OffsetFetch
    10: (0, 4),  # FindCoordinator
    11: (0, 7),  # JoinGroup
    12: (0, 4),  # Heartbeat
    13: (0, 4),  # LeaveGroup
    14: (0, 5),  # SyncGroup
    15: (0, 5),  # DescribeGroups
    16: (0, 4),  # ListGroups
    18: (0, 3),  # ApiVersions
    19: (2, 7),  # CreateTopics
    20: (1, 6),  # DeleteTopics
    22: (0, 4),  # InitProducerId
}

API_NAMES: dict[int, str] = dict(api_key_map)

PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR = 8, 9, 10
JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP, DESCRIBE_GROUPS, LIST_GROUPS = (
    11,
    12,
    13,
    14,
    15,
    16,
)
API_VERSIONS, CREATE_TOPICS, DELETE_TOPICS, INIT_PRODUCER_ID = 18, 19, 20, 22


def supports(api_key: int, version: int) -> bool:
    low, high = SUPPORTED.get(api_key, (1, 0))
    return low <= version <= high
