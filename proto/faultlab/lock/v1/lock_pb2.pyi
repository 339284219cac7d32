from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateSessionRequest(_message.Message):
    __slots__ = ("ttl_ms", "owner")
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ttl_ms: int
    owner: str
    def __init__(self, ttl_ms: _Optional[int] = ..., owner: _Optional[str] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session_id", "ttl_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    ttl_ms: int
    def __init__(self, session_id: _Optional[int] = ..., ttl_ms: _Optional[int] = ...) -> None: ...

class KeepAliveRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    def __init__(self, session_id: _Optional[int] = ...) -> None: ...

class KeepAliveResponse(_message.Message):
    __slots__ = ("session_id", "ttl_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    ttl_ms: int
    def __init__(self, session_id: _Optional[int] = ..., ttl_ms: _Optional[int] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    def __init__(self, session_id: _Optional[int] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, released: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("session_id", "owner", "ttl_ms", "expires_in_ms", "held", "waiting")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_MS_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    owner: str
    ttl_ms: int
    expires_in_ms: int
    held: _containers.RepeatedScalarFieldContainer[str]
    waiting: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_id: _Optional[int] = ..., owner: _Optional[str] = ..., ttl_ms: _Optional[int] = ..., expires_in_ms: _Optional[int] = ..., held: _Optional[_Iterable[str]] = ..., waiting: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionInfo]
    def __init__(self, sessions: _Optional[_Iterable[_Union[SessionInfo, _Mapping]]] = ...) -> None: ...

class AcquireRequest(_message.Message):
    __slots__ = ("name", "session_id", "wait", "wait_ms", "seq")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    name: str
    session_id: int
    wait: bool
    wait_ms: int
    seq: int
    def __init__(self, name: _Optional[str] = ..., session_id: _Optional[int] = ..., wait: _Optional[bool] = ..., wait_ms: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class AcquireResponse(_message.Message):
    __slots__ = ("acquired", "token", "holder_session")
    ACQUIRED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    HOLDER_SESSION_FIELD_NUMBER: _ClassVar[int]
    acquired: bool
    token: int
    holder_session: int
    def __init__(self, acquired: _Optional[bool] = ..., token: _Optional[int] = ..., holder_session: _Optional[int] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("name", "session_id", "seq")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    name: str
    session_id: int
    seq: int
    def __init__(self, name: _Optional[str] = ..., session_id: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("next_session", "next_token")
    NEXT_SESSION_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    next_session: int
    next_token: int
    def __init__(self, next_session: _Optional[int] = ..., next_token: _Optional[int] = ...) -> None: ...

class HolderRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class HolderResponse(_message.Message):
    __slots__ = ("held", "session_id", "owner", "token", "since_unix_ms", "waiters")
    HELD_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    WAITERS_FIELD_NUMBER: _ClassVar[int]
    held: bool
    session_id: int
    owner: str
    token: int
    since_unix_ms: int
    waiters: int
    def __init__(self, held: _Optional[bool] = ..., session_id: _Optional[int] = ..., owner: _Optional[str] = ..., token: _Optional[int] = ..., since_unix_ms: _Optional[int] = ..., waiters: _Optional[int] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class HolderEvent(_message.Message):
    __slots__ = ("kind", "name", "session_id", "owner", "token", "index")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CURRENT: _ClassVar[HolderEvent.Kind]
        ACQUIRED: _ClassVar[HolderEvent.Kind]
        RELEASED: _ClassVar[HolderEvent.Kind]
        EXPIRED: _ClassVar[HolderEvent.Kind]
    CURRENT: HolderEvent.Kind
    ACQUIRED: HolderEvent.Kind
    RELEASED: HolderEvent.Kind
    EXPIRED: HolderEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    kind: HolderEvent.Kind
    name: str
    session_id: int
    owner: str
    token: int
    index: int
    def __init__(self, kind: _Optional[_Union[HolderEvent.Kind, str]] = ..., name: _Optional[str] = ..., session_id: _Optional[int] = ..., owner: _Optional[str] = ..., token: _Optional[int] = ..., index: _Optional[int] = ...) -> None: ...
