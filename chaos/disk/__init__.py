"""Disk faults on a real filesystem: a FUSE "lazy disk" under a node's data directory
that can lose what was not fsynced (a power cut), and slow or fail fsync and writes.

    fs.py        the FUSE operations: pass-through plus what undoes un-fsynced changes
    undo.py      that bookkeeping, free of FUSE (unit-tested alone)
    control.py   the control socket: status, lose_unsynced, set_faults
    mounts.py    mounting one disk in its own process, and unmounting it
"""
