"""Helpers shared by the resilience tests."""

from __future__ import annotations


class ManualClock:
    """A clock that only moves when told to (epoch seconds)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward and return the new time."""
        self.now += seconds
        return self.now
