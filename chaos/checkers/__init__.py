"""Checkers judge a history; they never look at the system under test."""
