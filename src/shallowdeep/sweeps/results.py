"""A sweep's results: one row per trial, the trial chosen on validation, and the files that hold them.

A sweep folder holds, rewritten after every finished trial:

==================  =========================================================================
``results.json``    the table as data: the sweep's definition and every trial (read back here)
``results.csv``     the same table for a spreadsheet, one row per trial
``results.md``      the same table for people, best first, with the one honest test figure
``figures/*.png``   the metric against each axis; validation accuracy against weights and time
``runs/``           every trial's run folders (:class:`~shallowdeep.runs.Run`)
==================  =========================================================================

**Choosing honestly.** The trial kept is the one with the best *validation* score (mean over its
seeds). Its test score is then the one unbiased estimate of how the chosen model does on new data.
The other trials' test scores are shown for curiosity only, marked as such: choosing among them by
test score would make the test set part of the training, and its figure optimistic.
"""

from __future__ import annotations

import csv
import enum
import io
import math
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shallowdeep.errors import ShallowDeepError
from shallowdeep.experiments.files import toml_value
from shallowdeep.runs import Run
from shallowdeep.storage import read_json, write_json, write_text

RESULTS_JSON, RESULTS_CSV, RESULTS_MD = "results.json", "results.csv", "results.md"
FIGURES = "figures"


class SweepError(ShallowDeepError):
    """A sweep cannot run or be read: its folder is in use or holds another sweep, a cluster
    refused it; the message says how to fix it."""


class TrialStatus(enum.Enum):
    """How a trial ended: trained to the end, stopped early as hopeless, failed, or still running."""

    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"
    RUNNING = "running"


@dataclass
class RunSummary:
    """One run of a trial (one seed): where it is and what it measured."""

    path: str  # relative to the sweep folder
    validation: float | None  # the selection metric on validation
    test: dict[str, float]  # test accuracy, and the selection metric on test
    weights: int | None
    training_seconds: float | None
    epochs: int
    validation_accuracy: float | None = None

    @classmethod
    def of(cls, run: Run, metric: str, folder: Path) -> RunSummary:
        metrics = run.metrics
        test = metrics["test"]
        return cls(
            path=run.path.relative_to(folder).as_posix(), validation=float(metrics["validation"][metric]),
            test={key: float(test[key]) for key in dict.fromkeys(("accuracy", metric))},
            weights=int(metrics["params"]), training_seconds=float(metrics["training_seconds"]),
            epochs=int(metrics["epochs"]), validation_accuracy=float(metrics["validation"]["accuracy"]),
        )


@dataclass
class TrialRecord:
    """One trial: its point (axis key -> value), how it ended and what its runs measured."""

    number: int
    status: TrialStatus
    point: dict[str, Any]
    runs: list[RunSummary] = field(default_factory=list)
    node: str = ""
    error: str = ""
    seconds: float | None = None  # wall time of the trial in its worker

    @property
    def values(self) -> list[float]:
        """The selection metric on validation, one per seed."""
        return [run.validation for run in self.runs if run.validation is not None]

    @property
    def value(self) -> float | None:
        """The trial's score: the mean of its seeds' validation values (None unless complete)."""
        return statistics.fmean(self.values) if self.status is TrialStatus.COMPLETE and self.values else None

    @property
    def spread(self) -> float | None:
        """Sample standard deviation over seeds, with two seeds or more."""
        return statistics.stdev(self.values) if self.status is TrialStatus.COMPLETE and len(self.values) > 1 else None

    def test(self, key: str) -> float | None:
        scores = [run.test[key] for run in self.runs if key in run.test]
        return statistics.fmean(scores) if self.status is TrialStatus.COMPLETE and scores else None

    @property
    def validation_accuracy(self) -> float | None:
        scores = [run.validation_accuracy for run in self.runs if run.validation_accuracy is not None]
        return statistics.fmean(scores) if self.status is TrialStatus.COMPLETE and scores else None

    @property
    def weights(self) -> int | None:
        return next((run.weights for run in self.runs if run.weights is not None), None)

    @property
    def training_seconds(self) -> float | None:
        times = [run.training_seconds for run in self.runs if run.training_seconds is not None]
        return statistics.fmean(times) if times else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialRecord:
        return cls(**{**data, "status": TrialStatus(data["status"]),
                      "runs": [RunSummary(**run) for run in data["runs"]]})


@dataclass
class SweepResult:
    """A sweep's table of trials, as :func:`shallowdeep.sweep` returns it and the report reads it.

    >>> result = sd.sweep("raw", quick=True)          # doctest: +SKIP
    >>> result.best.point, result.best.value           # doctest: +SKIP
    >>> result.best.test("accuracy")                    # the one honest test figure  # doctest: +SKIP
    """

    folder: Path
    name: str
    description: str
    base: str
    dataset: str
    features: str
    metric: str
    direction: str
    sampler: str
    axes: list[dict[str, Any]]  # key, name (short), values (as written), choices (a list axis), log (a range)
    seeds: list[int]
    quick: bool
    budget: dict[str, Any]
    trials: list[TrialRecord]
    lost: int = 0  # trials whose worker died and that were sent again
    seconds: float = 0.0

    @property
    def finished(self) -> list[TrialRecord]:
        return [trial for trial in self.trials if trial.status is not TrialStatus.RUNNING]

    @property
    def best(self) -> TrialRecord | None:
        """The complete trial with the best validation score; ties go to the earlier trial."""
        complete = [trial for trial in self.trials if trial.value is not None and math.isfinite(trial.value)]
        if not complete:
            return None
        sign = 1 if self.direction == "maximize" else -1
        return max(complete, key=lambda trial: (sign * trial.value, -trial.number))

    def ranked(self) -> list[TrialRecord]:
        """Complete trials best first, then pruned, failed and running ones by number."""
        sign = -1 if self.direction == "maximize" else 1
        order = {TrialStatus.COMPLETE: 0, TrialStatus.PRUNED: 1, TrialStatus.FAILED: 2, TrialStatus.RUNNING: 3}
        return sorted(self.trials, key=lambda trial: (
            order[trial.status], sign * trial.value if trial.value is not None else 0.0, trial.number))

    def count(self, status: TrialStatus) -> int:
        return sum(trial.status is status for trial in self.trials)

    def runs(self) -> list[Run]:
        """The run folders of every trial (the complete ones' and the partial runs of pruned ones)."""
        return [Run(self.folder / run.path) for trial in self.trials for run in trial.runs]

    def figure_paths(self) -> list[Path]:
        folder = self.folder / FIGURES
        return sorted(folder.glob("*.png")) if folder.is_dir() else []

    @property
    def csv_path(self) -> Path:
        return self.folder / RESULTS_CSV

    @property
    def markdown_path(self) -> Path:
        return self.folder / RESULTS_MD

    def _repr_markdown_(self) -> str:
        return markdown_table(self)

    # -- files -------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = {key: value for key, value in asdict(self).items() if key not in ("folder", "trials")}
        best = self.best
        return {**data, "best": best.number if best else None, "trials": [trial.to_json() for trial in self.trials]}

    def write(self) -> None:
        """``results.json``, ``results.csv`` and ``results.md``, each written atomically."""
        write_json(self.folder / RESULTS_JSON, self.to_json())
        write_text(self.folder / RESULTS_CSV, csv_table(self))
        write_text(self.folder / RESULTS_MD, markdown_table(self))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> SweepResult:
        """The results a sweep left in ``folder`` (finished, or as far as it got)."""
        folder = Path(folder)
        path = folder / RESULTS_JSON
        if not path.is_file():
            raise SweepError(f"{folder} holds no sweep results ({RESULTS_JSON} is missing); give the folder "
                                   f"that `shallowdeep sweep` wrote, e.g. sweeps/raw")
        data = read_json(path)
        data.pop("best", None)
        trials = [TrialRecord.from_json(trial) for trial in data.pop("trials")]
        return cls(folder=folder, trials=trials, **data)


# -- tables ------------------------------------------------------------------------------------------

def _shown(value: Any) -> str:
    return toml_value(value) if value is not None else ""


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def csv_table(result: SweepResult) -> str:
    """One row per trial, in trial order; ``chosen`` marks the trial chosen on validation."""
    best = result.best
    metric = result.metric
    test_keys = list(dict.fromkeys(("accuracy", metric)))
    header = ["trial", "status", "chosen", *(axis["key"] for axis in result.axes), f"validation_{metric}",
              f"validation_{metric}_sd", f"validation_{metric}_per_seed", *(f"test_{key}" for key in test_keys),
              "weights", "epochs", "training_seconds", "node", "runs", "error"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for trial in sorted(result.trials, key=lambda trial: trial.number):
        writer.writerow([
            trial.number, trial.status.value, "yes" if best is trial else "",
            *(_shown(trial.point.get(axis["key"])) for axis in result.axes),
            _number(trial.value, 6), _number(trial.spread, 6), " ".join(f"{v:.6f}" for v in trial.values),
            *(_number(trial.test(key), 6) for key in test_keys),
            trial.weights if trial.weights is not None else "", max((run.epochs for run in trial.runs), default=""),
            _number(trial.training_seconds, 2), trial.node, ";".join(run.path for run in trial.runs), trial.error,
        ])
    return buffer.getvalue()


def honest_summary(result: SweepResult) -> str:
    """The sentence that says which trial was chosen, on what, and its test score."""
    best = result.best
    if best is None:
        return "No trial has finished yet, so none is chosen."
    point = ", ".join(f"{axis['name']} = {_shown(best.point.get(axis['key']))}" for axis in result.axes)
    spread = f" ± {best.spread:.4f}" if best.spread is not None else ""
    seeds = f" (mean of {len(best.values)} seeds)" if len(best.values) > 1 else ""
    tested = " and ".join(f"{key} {_number(best.test(key))}" for key in dict.fromkeys(("accuracy", result.metric)))
    return (f"Chosen on validation: trial {best.number} ({point}), validation {result.metric} "
            f"{_number(best.value)}{spread}{seeds}. Its test {tested} is the one honest estimate of this search; "
            f"the other trials' test scores (†) are shown for information only and were not used to choose.")


def markdown_table(result: SweepResult) -> str:
    """The table for people: complete trials best first, the chosen one in bold."""
    best, metric = result.best, result.metric
    lines = [f"# Sweep {result.name}: {result.description}", ""]
    if result.quick:
        lines += ["> **QUICK SWEEP: 1 epoch on small slices, to check the pipeline; these numbers say nothing "
                  "about the models.**", ""]
    lines += [f"Base experiment `{result.base}`, {result.sampler} search, {len(result.finished)} trials "
              f"({result.count(TrialStatus.COMPLETE)} complete, {result.count(TrialStatus.PRUNED)} pruned, "
              f"{result.count(TrialStatus.FAILED)} failed), chosen on validation {metric}.", "",
              honest_summary(result), ""]
    names = [axis["name"] for axis in result.axes]
    lines.append("| trial | status | " + " | ".join(names) + f" | validation {metric} | weights | training (s) "
                 f"| test accuracy † |")
    lines.append("|---:|---|" + "---|" * len(names) + "---:|---:|---:|---:|")
    for trial in result.ranked():
        chosen = trial is best
        test = _number(trial.test("accuracy"))
        cells = [f"**{trial.number}**" if chosen else str(trial.number), trial.status.value,
                 *(_shown(trial.point.get(axis["key"])).replace("|", "\\|") for axis in result.axes),
                 (f"**{_number(trial.value)}**" if chosen else _number(trial.value)) or "–",
                 f"{trial.weights:,}" if trial.weights is not None else "–",
                 _number(trial.training_seconds, 1) or "–",
                 (f"**{test}** (chosen)" if chosen else f"{test} †") if test else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    failed = [trial for trial in result.trials if trial.status is TrialStatus.FAILED and trial.error]
    if failed:
        lines += ["", "Failed trials:", ""] + [f"- trial {trial.number}: {trial.error}" for trial in failed]
    lines += ["", "† a test score that played no part in the choice: reading the best of these would be "
              "choosing on the test set.", ""]
    return "\n".join(lines)
