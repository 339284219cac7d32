"""Raft consensus: a pure core (no I/O, no clock, no randomness of its own), its storage,
transport and asyncio driver. See core.py for the core and ready.py for the contract
between the core and whatever drives it."""
