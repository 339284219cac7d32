"""ApiVersions, Metadata, CreateTopics, DeleteTopics, InitProducerId and FindCoordinator:
what a Kafka client asks before it produces or consumes."""

from __future__ import annotations

import datetime
from typing import Any

from faultlab.log.v1 import log_pb2
from kio.schema.errors import ErrorCode

from services.log import commands
from services.log.commands import CreateTopic
from services.log.groups import GROUP as GROUPS_GROUP
from services.log.kafka.door import CLUSTER_ID, Door
from services.log.kafka.wire import Deadline, api_version_list
from services.log.topic import TopicMeta
from services.runtime import errors

NO_THROTTLE = datetime.timedelta(0)
DEFAULT_PARTITIONS = 1  # Kafka's num.partitions
TIMEOUT_S = 30.0  # requests without a timeout of their own: Kafka's request.timeout.ms
# Topic configs that map onto faultlab's retention; the rest are taken and ignored, except
# a cleanup.policy faultlab cannot honour.
RETENTION_CONFIGS = {"retention.ms": 2, "retention.bytes": 1}

Answer = dict[str, Any]


async def api_versions(door: Door, request: Any, version: int) -> Answer:
    return {
        "error_code": ErrorCode.none,
        "api_keys": api_version_list(),
        "throttle_time": NO_THROTTLE,
    }


async def metadata(door: Door, request: Any, version: int) -> Answer:
    meta = door.log.meta_group.state
    if request.topics is None or (version == 0 and not request.topics):
        topics = [_topic(door, t) for t in sorted(meta.topics.values(), key=lambda t: t.name)]
    else:
        auto_create = door.config.auto_create_topics and getattr(
            request, "allow_auto_topic_creation", True
        )
        topics = [await _named_topic(door, t.name, auto_create) for t in request.topics]
    return {
        "throttle_time": NO_THROTTLE,
        "brokers": [
            {"node_id": b.broker_id, "host": b.host, "port": b.port, "rack": None}
            for b in door.brokers.values()
        ],
        "cluster_id": CLUSTER_ID,
        "controller_id": door.broker_id(door.log.meta_group.leader_id),
        "topics": topics,
    }


async def _named_topic(door: Door, name: str | None, auto_create: bool) -> Answer:
    if not name or not commands.TOPIC_NAME.fullmatch(name):
        return _topic_error(name, ErrorCode.invalid_topic_exception)
    deadline = Deadline(TIMEOUT_S)
    try:
        return _topic(door, await door.log.topic(name, deadline))
    except errors.UnknownTopic:
        if not auto_create:
            return _topic_error(name, ErrorCode.unknown_topic_or_partition)
    except errors.ServiceError:
        return _topic_error(name, ErrorCode.leader_not_available)
    try:  # as Kafka's auto.create.topics.enable: made with the defaults, leaders to come
        await _create(door, name, DEFAULT_PARTITIONS, -1, (0, 0, 0), deadline)
    except errors.TopicExists:
        pass
    except errors.ServiceError:
        return _topic_error(name, ErrorCode.leader_not_available)
    return _topic_error(name, ErrorCode.leader_not_available)


def _topic_error(name: str | None, code: ErrorCode) -> Answer:
    return {
        "error_code": code,
        "name": name,
        "topic_id": None,
        "is_internal": False,
        "partitions": [],
    }


def _topic(door: Door, topic: TopicMeta) -> Answer:
    partitions = []
    for p in range(topic.partitions):
        leader, epoch = door.leader_of(topic, p)
        replicas = [door.broker_id(n) for n in topic.replicas[p]]
        partitions.append(
            {
                "error_code": ErrorCode.none if leader >= 0 else ErrorCode.leader_not_available,
                "partition_index": p,
                "leader_id": leader,
                "leader_epoch": epoch,
                "replica_nodes": replicas,
                "isr_nodes": replicas,
                "offline_replicas": [],
            }
        )
    return {
        "error_code": ErrorCode.none,
        "name": topic.name,
        "topic_id": door.topic_id(topic),
        "is_internal": False,
        "partitions": partitions,
    }


async def _create(
    door: Door,
    name: str,
    partitions: int,
    replication: int,
    retention: tuple[int, int, int],
    deadline: Deadline,
) -> TopicMeta:
    nodes = door.log.log_nodes
    asked = 0 if replication == -1 else replication
    cmd = CreateTopic(name, partitions, commands.replication(asked, len(nodes)), retention, nodes)
    return await door.controller.create_topic(cmd, deadline)


async def create_topics(door: Door, request: Any, version: int) -> Answer:
    deadline = Deadline(request.timeout.total_seconds() or TIMEOUT_S)
    return {
        "throttle_time": NO_THROTTLE,
        "topics": [
            await _create_one(door, t, request.validate_only, deadline) for t in request.topics
        ],
    }


async def _create_one(door: Door, t: Any, validate_only: bool, deadline: Deadline) -> Answer:
    nodes = len(door.log.log_nodes)
    partitions = DEFAULT_PARTITIONS if t.num_partitions == -1 else t.num_partitions
    replication = (
        min(commands.MAX_REPLICATION, nodes) if t.replication_factor == -1 else t.replication_factor
    )

    def failed(code: ErrorCode, message: str) -> Answer:
        return {
            "name": t.name,
            "topic_id": None,
            "error_code": code,
            "error_message": message,
            "num_partitions": -1,
            "replication_factor": -1,
            "configs": None,
        }

    if not commands.TOPIC_NAME.fullmatch(t.name) or t.name in (".", ".."):
        return failed(
            ErrorCode.invalid_topic_exception,
            f"Topic name is invalid: '{t.name}' contains one or more characters other than "
            "ASCII alphanumerics, '.', '_' and '-'",
        )
    if t.assignments:
        return failed(
            ErrorCode.invalid_request,
            "faultlab places replicas itself; manual assignments are not supported",
        )
    if partitions < 1:
        return failed(
            ErrorCode.invalid_partitions,
            "Number of partitions was set to an invalid non-positive value.",
        )
    if partitions > commands.MAX_PARTITIONS:
        return failed(
            ErrorCode.invalid_partitions,
            f"Number of partitions {partitions} is above faultlab's limit of "
            f"{commands.MAX_PARTITIONS}.",
        )
    if replication < 1:
        return failed(
            ErrorCode.invalid_replication_factor, "Replication factor must be larger than 0."
        )
    if replication > nodes:
        return failed(
            ErrorCode.invalid_replication_factor,
            f"Unable to replicate the partition {replication} time(s): The target replication "
            f"factor of {replication} cannot be reached because only {nodes} broker(s) are "
            "registered.",
        )
    retention = [0, 0, 0]
    for config in t.configs:
        if config.name == "cleanup.policy" and config.value != "delete":
            return failed(
                ErrorCode.invalid_config,
                f"faultlab does not compact logs: cleanup.policy={config.value}",
            )
        if config.name in RETENTION_CONFIGS and config.value is not None:
            try:
                value = int(config.value)
            except ValueError:
                return failed(
                    ErrorCode.invalid_config,
                    f"Invalid value {config.value} for configuration {config.name}",
                )
            retention[RETENTION_CONFIGS[config.name]] = max(value, 0)
    if validate_only:
        existing = door.log.meta_group.state.topics.get(t.name)
        if existing is not None:
            return failed(ErrorCode.topic_already_exists, f"Topic '{t.name}' already exists.")
        return {
            "name": t.name,
            "topic_id": None,
            "error_code": ErrorCode.none,
            "error_message": None,
            "num_partitions": partitions,
            "replication_factor": replication,
            "configs": [],
        }
    try:
        topic = await _create(
            door,
            t.name,
            partitions,
            replication,
            (retention[0], retention[1], retention[2]),
            deadline,
        )
    except errors.TopicExists:
        return failed(ErrorCode.topic_already_exists, f"Topic '{t.name}' already exists.")
    except errors.ServiceError as e:
        return failed(
            ErrorCode.request_timed_out if not e.definite else ErrorCode.not_controller, str(e)
        )
    return {
        "name": t.name,
        "topic_id": door.topic_id(topic),
        "error_code": ErrorCode.none,
        "error_message": None,
        "num_partitions": topic.partitions,
        "replication_factor": topic.replication,
        "configs": [],
    }


async def delete_topics(door: Door, request: Any, version: int) -> Answer:
    deadline = Deadline(request.timeout.total_seconds() or TIMEOUT_S)
    names = [t.name for t in request.topics] if version >= 6 else list(request.topic_names)
    results = []
    for name in names:
        code = ErrorCode.none
        message = None
        try:
            if not await door.controller.delete_topic(name, deadline):
                code, message = (
                    ErrorCode.unknown_topic_or_partition,
                    "This server does not host this topic-partition.",
                )
        except errors.ServiceError as e:
            code, message = ErrorCode.request_timed_out, str(e)
        results.append(
            {"name": name, "topic_id": None, "error_code": code, "error_message": message}
        )
    return {"throttle_time": NO_THROTTLE, "responses": results}


async def init_producer_id(door: Door, request: Any, version: int) -> Answer:
    def answer(code: ErrorCode, pid: int = -1, epoch: int = -1) -> Answer:
        return {
            "throttle_time": NO_THROTTLE,
            "error_code": code,
            "producer_id": pid,
            "producer_epoch": epoch,
        }

    if request.transactional_id is not None:  # transactions are out of faultlab's scope
        return answer(ErrorCode.transactional_id_authorization_failed)
    try:
        producer_id, epoch = await door.controller.init_producer(Deadline(TIMEOUT_S))
    except errors.ServiceError:
        return answer(ErrorCode.coordinator_not_available)
    return answer(ErrorCode.none, producer_id, epoch)


async def find_coordinator(door: Door, request: Any, version: int) -> Answer:
    keys = list(request.coordinator_keys) if version >= 4 else [request.key]
    key_type = getattr(request, "key_type", 0)
    coordinators = [_coordinator(door, key, key_type) for key in keys]
    if version >= 4:
        return {"throttle_time": NO_THROTTLE, "coordinators": coordinators}
    only = dict(coordinators[0])
    only.pop("key")
    return {"throttle_time": NO_THROTTLE, **only}


def _coordinator(door: Door, key: str, key_type: int) -> Answer:
    """Every group's coordinator is the leader of the `log/groups` Raft group."""
    leader = door.log.coordinator.group.leader_id
    broker = door.brokers.get(leader)
    if key_type != 0:
        code, message = ErrorCode.coordinator_not_available, "faultlab serves no transactions"
    elif broker is None:
        code, message = ErrorCode.coordinator_not_available, f"{GROUPS_GROUP} has no leader now"
    else:
        return {
            "key": key,
            "node_id": broker.broker_id,
            "host": broker.host,
            "port": broker.port,
            "error_code": ErrorCode.none,
            "error_message": None,
        }
    return {
        "key": key,
        "node_id": -1,
        "host": "",
        "port": -1,
        "error_code": code,
        "error_message": message,
    }


def producer_batch(producer_id: int, epoch: int, first_sequence: int) -> log_pb2.ProducerBatch:
    return log_pb2.ProducerBatch(
        producer_id=producer_id, epoch=epoch, first_sequence=first_sequence
    )
