"""Who consumes which partition: Kafka's range and round-robin assignors, run by the
group coordinator. Pure functions of the members (sorted by id) and the partition counts,
so every replica of the coordinator computes the same assignment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Assignment = dict[str, dict[str, list[int]]]  # member -> topic -> partitions
RANGE = 0
ROUND_ROBIN = 1


def assign(
    assignor: int, subscriptions: Mapping[str, Sequence[str]], partitions: Mapping[str, int]
) -> Assignment:
    """`subscriptions`: member -> its topics; `partitions`: topic -> partition count (a
    topic not there is unknown and assigned to nobody)."""
    if assignor == ROUND_ROBIN:
        return _round_robin(subscriptions, partitions)
    return _range(subscriptions, partitions)


def _range(subscriptions: Mapping[str, Sequence[str]], partitions: Mapping[str, int]) -> Assignment:
    out: Assignment = {m: {} for m in subscriptions}
    for topic in sorted({t for ts in subscriptions.values() for t in ts}):
        members = sorted(m for m, ts in subscriptions.items() if topic in ts)
        count = partitions.get(topic, 0)
        per, extra = divmod(count, len(members))
        start = 0
        for i, member in enumerate(members):
            n = per + (1 if i < extra else 0)
            if n:
                out[member][topic] = list(range(start, start + n))
            start += n
    return out


def _round_robin(
    subscriptions: Mapping[str, Sequence[str]], partitions: Mapping[str, int]
) -> Assignment:
    out: Assignment = {m: {} for m in subscriptions}
    members = sorted(subscriptions)
    topic_partitions = [
        (t, p)
        for t in sorted({t for ts in subscriptions.values() for t in ts})
        for p in range(partitions.get(t, 0))
    ]
    turn = 0
    for topic, partition in topic_partitions:
        for _ in range(len(members)):  # the next member subscribed to this topic
            member = members[turn % len(members)]
            turn += 1
            if topic in subscriptions[member]:
                out[member].setdefault(topic, []).append(partition)
                break
    return out
