from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LimitsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RateLimitState(_message.Message):
    __slots__ = ("tenant", "policy", "algorithm", "limit", "remaining", "reset_s")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    RESET_S_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    policy: str
    algorithm: str
    limit: int
    remaining: int
    reset_s: float
    def __init__(self, tenant: _Optional[str] = ..., policy: _Optional[str] = ..., algorithm: _Optional[str] = ..., limit: _Optional[int] = ..., remaining: _Optional[int] = ..., reset_s: _Optional[float] = ...) -> None: ...

class ConcurrencyState(_message.Message):
    __slots__ = ("tenant", "cap", "in_flight")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CAP_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    cap: int
    in_flight: int
    def __init__(self, tenant: _Optional[str] = ..., cap: _Optional[int] = ..., in_flight: _Optional[int] = ...) -> None: ...

class LimitsResponse(_message.Message):
    __slots__ = ("node", "rates", "concurrency", "in_flight", "capacity")
    NODE_FIELD_NUMBER: _ClassVar[int]
    RATES_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    node: str
    rates: _containers.RepeatedCompositeFieldContainer[RateLimitState]
    concurrency: _containers.RepeatedCompositeFieldContainer[ConcurrencyState]
    in_flight: int
    capacity: int
    def __init__(self, node: _Optional[str] = ..., rates: _Optional[_Iterable[_Union[RateLimitState, _Mapping]]] = ..., concurrency: _Optional[_Iterable[_Union[ConcurrencyState, _Mapping]]] = ..., in_flight: _Optional[int] = ..., capacity: _Optional[int] = ...) -> None: ...
