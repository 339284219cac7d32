"""Go programs the chaos module runs as real clients (etcd's Go client, in etcdclient/):
built with the machine's Go into .tools/bin, named by a hash of their sources, so a
binary is never taken for a build of sources it was not built from (an mtime can lie:
two checkouts sharing .tools did). The first build fetches their pinned modules from the
Go module proxy."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

SOURCES = Path(__file__).resolve().parent
BUILT = SOURCES.parents[1] / ".tools" / "bin"
BUILD_S = 600.0


class GoMissing(RuntimeError):
    """No Go toolchain to build a Go client with."""


def built(name: str) -> Path:
    """The program chaos/goclients/`name`, built from its sources as they are now."""
    go = shutil.which("go")
    source = SOURCES / name
    binary = BUILT / f"{name}-{_digest(source)}"
    if binary.exists():
        return binary
    if go is None:
        raise GoMissing(f"Go is needed to build {source} (https://go.dev/dl/)")
    BUILT.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".building")
    subprocess.run([go, "build", "-o", str(partial), "."], cwd=source, check=True, timeout=BUILD_S)
    partial.rename(binary)  # complete or absent, for a run beside this one
    return binary


def _digest(source: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(source.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]
