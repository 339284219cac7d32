"""One lazy disk's process: `python -m chaos.disk --backing B --trash T --mount M --state S`.

Mounts `LazyFs` over B at M (FUSE, in the foreground, multi-threaded), serves its control
socket, and writes the socket's name to S/control once it listens. `fusermount3 -u M`
ends it; if the process dies instead, `auto_unmount` has fusermount3 unmount M for it, so a
kill -9 leaves no dead mount behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid
from pathlib import Path

from mfusepy import FUSE

from chaos.disk.control import CONTROL_FILE, serve_control
from chaos.disk.fs import FS_NAME, LazyFs


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.disk")
    for flag in ("--backing", "--trash", "--mount", "--state"):
        parser.add_argument(flag, type=Path, required=True)
    args = parser.parse_args()
    for flag in ("backing", "trash", "mount", "state"):  # libfuse may leave the cwd for "/"
        setattr(args, flag, getattr(args, flag).absolute())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    fs = LazyFs(args.backing, args.trash)
    name = f"faultlab-disk-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    serve_control(fs, name)
    (args.state / CONTROL_FILE).write_text(name)
    FUSE(
        fs,
        str(args.mount),
        foreground=True,
        nothreads=False,
        fsname=FS_NAME,
        subtype=FS_NAME,
        auto_unmount=True,
        hard_remove=True,  # unlink is unlink, not a rename to .fuse_hidden*
        direct_io=True,  # no kernel page cache: every read and write reaches LazyFs
        attr_timeout=0,
        entry_timeout=0,
        negative_timeout=0,  # sizes change under a power cut
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
