"""Go programs the chaos module runs as real clients (etcd's Go client, in etcdclient/):
built with the machine's Go into .tools/bin, again whenever a source is newer than the
binary. The first build fetches their pinned modules from the Go module proxy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCES = Path(__file__).resolve().parent
BUILT = SOURCES.parents[1] / ".tools" / "bin"
BUILD_S = 600.0


class GoMissing(RuntimeError):
    """No Go toolchain to build a Go client with."""


def built(name: str) -> Path:
    """The program chaos/goclients/`name`, built if it is not, or is older than a source."""
    go = shutil.which("go")
    source = SOURCES / name
    binary = BUILT / name
    newest = max(p.stat().st_mtime for p in source.iterdir())
    if binary.exists() and binary.stat().st_mtime >= newest:
        return binary
    if go is None:
        raise GoMissing(f"Go is needed to build {source} (https://go.dev/dl/)")
    BUILT.mkdir(parents=True, exist_ok=True)
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=source, check=True, timeout=BUILD_S)
    return binary
