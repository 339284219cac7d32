"""Kafka's messages as kio's generated classes, one class per API version, built from plain
dicts: a handler answers once, in Kafka's field names as kio spells them, and each version
takes the fields it has (a field a version lacks is left out; one it needs and was not
given takes its default)."""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from kio.index import load_entity_module
from kio.static.constants import EntityType

from services.log.kafka.apis import API_NAMES


@functools.cache
def request_class(api_key: int, version: int) -> Any:
    return _entity(api_key, version, EntityType.request)


@functools.cache
def response_class(api_key: int, version: int) -> Any:
    return _entity(api_key, version, EntityType.response)


def _entity(api_key: int, version: int, kind: EntityType) -> Any:
    module = load_entity_module(API_NAMES[api_key], version, kind)  # type: ignore[arg-type]
    suffix = "Request" if kind == EntityType.request else "Response"
    classes = [
        v
        for k, v in vars(module).items()
        if k.endswith(suffix) and isinstance(v, type) and getattr(v, "__type__", None) == kind
    ]
    assert len(classes) == 1, f"{module.__name__} has {classes}"
    return classes[0]


def build(cls: type, data: Mapping[str, Any]) -> Any:
    """An instance of the kio class `cls` from `data` (nested dicts and lists of dicts
    for nested entities)."""
    kwargs = {}
    for f in _fields(cls):
        if f.name not in data:
            continue
        kwargs[f.name] = _value(f.type, data[f.name])
    return cls(**kwargs)


@functools.cache
def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)


def _value(kind: Any, value: Any) -> Any:
    if value is None:
        # A null where this version has no null (a protocol name before JoinGroup v7):
        # Kafka writes the empty value there.
        return {str: "", bytes: b""}.get(_base(kind)) if _base(kind) in (str, bytes) else None
    origin = get_origin(kind)
    if origin is tuple:
        inner = get_args(kind)[0]
        return tuple(_value(inner, v) for v in value)
    if origin in (Union, types.UnionType):
        entity = next((a for a in get_args(kind) if dataclasses.is_dataclass(a)), None)
        return build(entity, value) if entity is not None else value  # type: ignore[arg-type]
    if dataclasses.is_dataclass(kind) and isinstance(value, Mapping):
        return build(kind, value)  # type: ignore[arg-type]
    return value


def _base(kind: Any) -> Any:
    """The plain type under kio's phantom types (TopicName is a str)."""
    for base in getattr(kind, "__mro__", ()):
        if base in (str, bytes):
            return base
    return getattr(kind, "__supertype__", kind)
