"""What every part of the report shares: its images folder and how an experiment's fate is told."""

from __future__ import annotations

import shutil
from pathlib import Path

from matplotlib.figure import Figure

from shallowdeep.plots import save_figure
from shallowdeep.reporting.text import Writer
from shallowdeep.outcomes import Outcome, RunRecord
from shallowdeep.runs import Run

_OUTCOME_KEYS = {Outcome.TRAINED: "status_trained", Outcome.REUSED: "status_reused",
                 Outcome.FAILED: "status_failed", Outcome.SKIPPED: "status_skipped"}
_PROBLEM_KEYS = {Outcome.FAILED: "failed_item", Outcome.SKIPPED: "skipped_item"}


class Images:
    """The pictures a report shows, gathered in ``<out>/images`` so the Markdown links stay valid."""

    def __init__(self, out: Path):
        self.folder = out / "images"
        self.folder.mkdir(parents=True, exist_ok=True)

    def copy(self, run: Run, figure: str, name: str) -> Path:
        """A figure the run already holds (``history``, ``confusion``, ``roc``), copied in."""
        source = run.figure_path(figure)
        if source is None:
            raise FileNotFoundError(f"run {run.path} has no {figure}.png")
        target = self.folder / name
        shutil.copyfile(source, target)
        return target

    def save(self, figure: Figure, name: str) -> Path:
        """A figure drawn for the report."""
        return save_figure(figure, self.folder / name)


def finished(records: list[RunRecord]) -> list[RunRecord]:
    """The records that have a finished run to show."""
    return [record for record in records if record.outcome.has_run]


def outcome_text(write: Writer, record: RunRecord) -> str:
    """"trained", "reused", "failed" or "skipped", in the report's language."""
    return write(_OUTCOME_KEYS[record.outcome])


def problem_text(write: Writer, record: RunRecord) -> str:
    """Why a record has no run: "**name** failed: ..." or "**name** was skipped: ..."."""
    return write(_PROBLEM_KEYS[record.outcome], name=record.name, error=record.error)
