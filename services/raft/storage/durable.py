"""The directory half of durability on POSIX: a file's fsync makes its data durable, not
its name. A name created, renamed or removed is durable once its directory is fsynced,
and a new directory once *its* parent is. (ext4 often persists more than this with the
same journal commit; the lazy disk of chaos/disk holds the storage code to the letter.)
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: Path) -> None:
    """`mkdir -p`, with each directory it creates made durable in its parent."""
    missing = []
    at = Path(directory)
    while not at.exists():
        missing.append(at)
        at = at.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        fsync_dir(new.parent)
