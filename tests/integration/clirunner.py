"""The CLI as a user types it: `python -m cluster ...` in a folder of its own, with a
FAULTLAB_HOME of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class Cli:
    def __init__(self, home: Path, cwd: Path) -> None:
        self.env = {**os.environ, "FAULTLAB_HOME": str(home), "COLUMNS": "200"}
        self.cwd = cwd
        self.home = home

    def __call__(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "cluster", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result
