from __future__ import annotations

import pytest
import typer

from cluster.cli.durations import parse_ms


@pytest.mark.parametrize(
    ("text", "ms"), [("200ms", 200), ("1.5s", 1500), ("2m", 120000), ("75", 75)]
)
def test_durations(text: str, ms: int) -> None:
    assert parse_ms(text) == ms


@pytest.mark.parametrize("text", ["", "fast", "-5ms", "1h", "1.2.3s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_ms(text)
