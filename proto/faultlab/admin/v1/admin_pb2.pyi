from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RaftRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RAFT_ROLE_UNSPECIFIED: _ClassVar[RaftRole]
    RAFT_ROLE_STARTING: _ClassVar[RaftRole]
    RAFT_ROLE_FOLLOWER: _ClassVar[RaftRole]
    RAFT_ROLE_PRE_CANDIDATE: _ClassVar[RaftRole]
    RAFT_ROLE_CANDIDATE: _ClassVar[RaftRole]
    RAFT_ROLE_LEADER: _ClassVar[RaftRole]
RAFT_ROLE_UNSPECIFIED: RaftRole
RAFT_ROLE_STARTING: RaftRole
RAFT_ROLE_FOLLOWER: RaftRole
RAFT_ROLE_PRE_CANDIDATE: RaftRole
RAFT_ROLE_CANDIDATE: RaftRole
RAFT_ROLE_LEADER: RaftRole

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeerReachability(_message.Message):
    __slots__ = ("node_id", "reachable", "rtt_ms", "last_error", "last_probe_age_ms", "via")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_PROBE_AGE_MS_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    reachable: bool
    rtt_ms: float
    last_error: str
    last_probe_age_ms: float
    via: str
    def __init__(self, node_id: _Optional[str] = ..., reachable: _Optional[bool] = ..., rtt_ms: _Optional[float] = ..., last_error: _Optional[str] = ..., last_probe_age_ms: _Optional[float] = ..., via: _Optional[str] = ...) -> None: ...

class RaftGroupStatus(_message.Message):
    __slots__ = ("group", "role", "term", "leader_id", "commit_index", "applied_index", "voters", "last_index", "quiet")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    LAST_INDEX_FIELD_NUMBER: _ClassVar[int]
    QUIET_FIELD_NUMBER: _ClassVar[int]
    group: str
    role: RaftRole
    term: int
    leader_id: str
    commit_index: int
    applied_index: int
    voters: _containers.RepeatedScalarFieldContainer[str]
    last_index: int
    quiet: bool
    def __init__(self, group: _Optional[str] = ..., role: _Optional[_Union[RaftRole, str]] = ..., term: _Optional[int] = ..., leader_id: _Optional[str] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., voters: _Optional[_Iterable[str]] = ..., last_index: _Optional[int] = ..., quiet: _Optional[bool] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("node_id", "group", "version", "uptime_s", "pid", "peers", "groups", "wall_time_s")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_S_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    group: str
    version: str
    uptime_s: float
    pid: int
    peers: _containers.RepeatedCompositeFieldContainer[PeerReachability]
    groups: _containers.RepeatedCompositeFieldContainer[RaftGroupStatus]
    wall_time_s: float
    def __init__(self, node_id: _Optional[str] = ..., group: _Optional[str] = ..., version: _Optional[str] = ..., uptime_s: _Optional[float] = ..., pid: _Optional[int] = ..., peers: _Optional[_Iterable[_Union[PeerReachability, _Mapping]]] = ..., groups: _Optional[_Iterable[_Union[RaftGroupStatus, _Mapping]]] = ..., wall_time_s: _Optional[float] = ...) -> None: ...

class PingRequest(_message.Message):
    __slots__ = ("from_node",)
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    from_node: str
    def __init__(self, from_node: _Optional[str] = ...) -> None: ...

class PingReply(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...
