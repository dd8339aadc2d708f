"""What became of each experiment of a lab: trained, reused, failed or skipped, with its run or why
there is none. The lab writes these records; the report reads them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shallowdeep.experiments import Experiment
from shallowdeep.runs import Run


class Outcome(enum.Enum):
    """What became of one experiment of a lab or sweep."""

    TRAINED = "trained"
    REUSED = "reused"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def has_run(self) -> bool:
        return self in (Outcome.TRAINED, Outcome.REUSED)


@dataclass
class RunRecord:
    """One experiment of a lab: its finished run, or why there is none."""

    name: str
    experiment: Experiment | None
    outcome: Outcome
    run: Run | None = None
    error: str = ""
    seconds: float = 0.0
