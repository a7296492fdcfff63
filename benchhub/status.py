"""How a run ended (its own module: run processes need it without the record schema)."""
from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """How a run ended."""

    OK = "ok"
    OVER_BUDGET = "over-budget"  # finished, but its measured peak exceeds the memory limit: unranked
    DOES_NOT_FIT = "does-not-fit"  # not even micro-batch 1 fits the memory limit: a finding, unranked
    FAILED = "failed"  # an error, a kill or a timeout; re-run next time

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def done(self) -> bool:
        """A finished finding: not re-run unless forced or its identity changed."""
        return self is not Status.FAILED

    @property
    def ranked(self) -> bool:
        return self is Status.OK
