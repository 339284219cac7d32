"""Reading the gateway's TOML settings: the one set of checks every table goes through
(config.py's tenants, limits, sharing and shedding; calls.py's [calls]), each problem a
`ConfigError` naming the table and the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.runtime.config import ConfigError


def only(table: Any, allowed: set[str], where: str) -> None:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def strings(spec: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: {key} must be a list of non-empty strings")
    return tuple(value)


def number(
    spec: Mapping[str, Any],
    key: str,
    where: str,
    kind: type,
    default: Any,
    minimum: float | None = None,
) -> Any:
    """`spec[key]` as an int or a float (`kind`), or `default` when absent."""
    if key not in spec:
        return default
    value = spec[key]
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        ok = ok and isinstance(value, int)
    if not ok:
        raise ConfigError(
            f"{where}: {key} must be {'an integer' if kind is int else 'a number'}, not {value!r}"
        )
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}: {key} must be >= {minimum:g}, not {value!r}")
    return kind(value)


def flag(spec: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false, not {value!r}")
    return value
