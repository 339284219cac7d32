"""Go programs the tests run against faultlab (tests/go/): built with the machine's Go into
.tools/bin, again whenever their sources are newer than the binary."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.etcdctl import REQUIRE_ENV

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "tests" / "go"
BUILT = ROOT / ".tools" / "bin"
BUILD_S = 600.0  # the first build fetches the modules from the Go module proxy


def go_program(name: str) -> Path:
    """tests/go/`name`, built; the test skipped (failed under REQUIRE_ENV) without Go."""
    go = shutil.which("go")
    if go is None:
        why = "Go is not installed: the Go client tests build tests/go with it"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(why)
        pytest.skip(why)
    source = SOURCES / name
    binary = BUILT / name
    newest = max(p.stat().st_mtime for p in source.iterdir())
    if not binary.exists() or binary.stat().st_mtime < newest:
        BUILT.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [go, "build", "-o", str(binary), "."], cwd=source, check=True, timeout=BUILD_S
        )
    return binary
