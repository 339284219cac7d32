"""The chaos module's Go clients (chaos/goclients), built for a test; without Go the test
is skipped (failed where FAULTLAB_REQUIRE_ETCD is set, as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaos.goclients import GoMissing, built
from tests.integration.etcdctl import REQUIRE_ENV


def go_program(name: str) -> Path:
    try:
        return built(name)
    except GoMissing as e:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(str(e))
        pytest.skip(str(e))
