"""The pytest plugin's documented example (docs/plugin_example: a user's visit counter
under a lock, and its test) run as a user's own suite would run it, with pytester: it
passes with fencing and fails without, on the lost increment."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "docs" / "plugin_example"


@pytest.mark.parametrize(("fencing", "passes"), [("1", True), ("0", False)])
def test_the_example_passes_with_fencing_and_fails_without(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fencing: str, passes: bool
) -> None:
    for name in ("visit_counter.py", "test_visit_counter.py"):
        (pytester.path / name).write_text((EXAMPLE / name).read_text())
    monkeypatch.setenv("FENCING", fencing)
    # A user's suite: no ini of ours, so pytest-asyncio in its default strict mode.
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    if passes:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*assert 1 == 2*"])
