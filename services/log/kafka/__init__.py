"""Kafka's wire protocol on the log nodes: a second front door on the same broker.

Kafka clients (kcat, librdkafka, the Java client, franz-go, aiokafka, kafka-python) reach
every log node at its Kafka port through a Toxiproxy link of its own, so the cluster's
network faults reach them as they reach faultlab's clients. Inside, nothing changes:
topics are the metadata group's, records each partition's Raft group's, consumer groups
the coordinator group's; a record produced through one door is fetched through the
other, and a group's offsets are one table.

    wire.py        frames, headers, versions; what bad input gets (connection closed)
    shapes.py      kio's classes per API version, built from one answer per handler
    apis.py        the APIs and versions offered in ApiVersions
    records.py     record batch v2: read (CRC-32C, every codec) and written
    door.py        brokers (node index = broker id), addresses, partition leaders
    controller.py  topic and producer-id writes, carried to the metadata leader
    topics.py      ApiVersions, Metadata, CreateTopics, DeleteTopics, InitProducerId,
                   FindCoordinator
    produce.py     Produce (acks 0, 1, -1; idempotent producers' sequences)
    fetch.py       Fetch (long poll), ListOffsets
    groups.py      the classic group protocol: Join/Sync/Heartbeat/Leave, offsets
    codes.py       faultlab's error reasons as Kafka's error codes
    listener.py    the TCP server of a log node
"""
