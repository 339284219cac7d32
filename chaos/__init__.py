"""Faults, workloads that record histories, checkers, experiments and their reports."""
