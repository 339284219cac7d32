"""A deterministic simulator for the Raft core: many cores in one thread, one seeded RNG,
a network that drops, delays, duplicates, reorders and partitions, crashes that lose what
was not persisted, and checkers of Raft's safety properties after every step.

    python -m services.raft.sim 1234          # replay one seed, verbosely
    python -m services.raft.sim --soak 20000  # many seeds
"""
