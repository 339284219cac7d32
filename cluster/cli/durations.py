"""Parsing durations written as people write them: 200ms, 1.5s, 2m."""

from __future__ import annotations

import re

import typer

_UNITS_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_ms(text: str, default_unit: str = "ms") -> int:
    m = _PATTERN.match(text)
    if not m:
        raise typer.BadParameter(f"{text!r} is not a duration like 200ms, 1.5s or 2m")
    return round(float(m.group(1)) * _UNITS_MS[m.group(2) or default_unit])
