"""The sweep's driver: asks the search for trials, sends them to workers, records what comes back.

One driver per sweep folder (an exclusive lock that the kernel drops when the driver dies). On
every start it reopens the study: finished trials stay finished and are never sent again; trials a
killed driver left running are sent again under their own numbers, and resume from their last
completed epoch where the run folders are shared. After every finished trial the results table is
rewritten, so a sweep interrupted at any point leaves a table of what it has finished.

The budget bounds how many trials are asked for, and for how long (this invocation's wall time);
trials already running always finish. A point whose runs exist already (the same resolved
experiment and seed) is not trained again: its runs are read back.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shallowdeep.experiments import ConfigError
from shallowdeep.memory import usable_cores
from shallowdeep.runs import Run
from shallowdeep.storage import read_json, write_json, write_text
from shallowdeep.sweeps import search
from shallowdeep.sweeps.execution import (
    RUNS, EventKind, InlinePool, LocalPool, TrialOutcome, TrialTask, unpack, validation_curve,
)
from shallowdeep.sweeps.results import FIGURES, RunSummary, SweepError, SweepResult, TrialRecord, TrialStatus
from shallowdeep.sweeps.spec import Choice, Range, SweepSpec

IDENTITY = "sweep.json"
LOCK = ".lock"
#: A trial whose process dies this many times fails (a trial that kills its worker: out of memory).
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Progress:
    """Where a sweep stands, as printed after every change and passed to ``on_progress``."""

    done: int
    pruned: int
    failed: int
    running: int
    total: int | None
    best: TrialRecord | None
    metric: str
    eta_seconds: float | None
    lost: int

    def line(self, name: str) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        text = (f"{name}: {self.done}{total} trials done ({self.pruned} pruned, {self.failed} failed), "
                f"{self.running} running")
        if self.lost:
            text += f", {self.lost} sent again after their worker died"
        if self.best is not None:
            text += f"; best so far #{self.best.number}: validation {self.metric} {self.best.value:.4f}"
        if self.eta_seconds is not None and self.running:
            text += f"; ETA {_duration(self.eta_seconds)}"
        return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder`` for this process alone; the kernel releases the lock when the process ends,
    however it ends, so a killed sweep never locks its folder out."""
    path = folder / LOCK
    stream = open(path, "a+", encoding="utf-8")
    try:
        try:
            import fcntl

            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # Windows: msvcrt locks the first byte instead
            import msvcrt

            msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)
        stream.seek(0)
        stream.truncate()
        stream.write(str(os.getpid()))
        stream.flush()
    except OSError:
        stream.seek(0)
        holder = stream.read().strip() or "?"
        stream.close()
        raise SweepError(f"another sweep (process {holder}) is running in {folder}; wait for it to finish, or "
                         f"give this one another folder with --out") from None
    try:
        yield
    finally:
        stream.close()


def _check_identity(spec: SweepSpec, folder: Path) -> None:
    """The folder is new, or holds this same search (budget aside)."""
    path = folder / IDENTITY
    identity = spec.identity()
    if path.is_file():
        stored = read_json(path)
        if stored != identity:
            differs = ", ".join(key for key in identity if stored.get(key) != identity.get(key))
            raise SweepError(f"{folder} holds another sweep (it differs in: {differs}); resume it with the "
                             f"settings it started with, or give this sweep another folder with --out")
    else:
        write_json(path, identity)


@dataclass
class _InFlight:
    trial: Any  # optuna.Trial
    task: TrialTask
    started: float
    attempts: int = 1


@dataclass
class _Driver:
    spec: SweepSpec
    folder: Path
    pool: Any  # LocalPool or RayPool: capacity(), submit(), poll(), close()
    shared_files: bool
    data_dir: str | None
    threads: int
    progress: bool
    on_progress: Callable[[Progress], None] | None
    study: Any = None
    in_flight: dict[int, _InFlight] = field(default_factory=dict)
    waiting: deque = field(default_factory=deque)
    durations: list[float] = field(default_factory=list)
    lost: int = 0
    started: float = field(default_factory=time.monotonic)

    # -- asking ------------------------------------------------------------------------------------

    def _can_ask(self) -> bool:
        budget = self.spec.trial_budget
        if budget is not None and len(self.study.get_trials(deepcopy=False)) >= budget:
            return False
        minutes = self.spec.budget.minutes
        return not minutes or time.monotonic() - self.started < 60 * minutes

    def _busy(self, task: TrialTask) -> bool:
        """Another running trial trains one of the same experiments (a point drawn twice)."""
        return any(task.digests & other.task.digests for other in self.in_flight.values())

    def _task(self, trial) -> TrialTask | None:
        """The trial's work, or None when it was settled here (its runs exist, or its point is
        refused by the experiment schema)."""
        point = search.point_of(self.spec, trial.params)
        try:
            experiments = self.spec.experiments(point)
        except ConfigError as error:  # a range drew a value the schema refuses
            self._record(trial, TrialOutcome(trial.number, TrialStatus.FAILED, error=f"ConfigError: {error}"))
            return None
        runs_dir = self.folder / RUNS
        existing = [Run.find_finished(runs_dir, experiment) for experiment in experiments]
        if all(existing):
            outcome = TrialOutcome(trial.number, TrialStatus.COMPLETE, node="reused")
            outcome.runs = [RunSummary.of(run, self.spec.metric, self.folder) for run in existing]
            outcome.curve = validation_curve(existing[0], self.spec.metric)
            self._record(trial, outcome)
            return None
        return TrialTask(
            number=trial.number, experiments=tuple(experiments), metric=self.spec.metric, threads=self.threads,
            # On a cluster each node has its own data directory (SHALLOWDEEP_DATA where it started).
            folder=str(self.folder) if self.shared_files else None,
            data_dir=self.data_dir if self.shared_files else None,
            pruning=search.pruning_plan(self.spec, self.study),
        )

    def _fill(self) -> None:
        """Send trials until every worker is busy or the budget is spent. A trial whose experiment
        is being trained by another (a point drawn twice) waits for it, then reuses its runs."""
        waited: deque = deque()
        while len(self.in_flight) < self.pool.capacity():
            if self.waiting:
                trial = self.waiting.popleft()
            elif self._can_ask() and not waited:
                trial = search.ask(self.study, self.spec)
            else:
                break
            task = self._task(trial)
            if task is None:
                continue
            if self._busy(task):
                waited.append(trial)
                continue
            self.pool.submit(task)
            self.in_flight[trial.number] = _InFlight(trial, task, time.monotonic())
        self.waiting.extendleft(reversed(waited))

    # -- recording ---------------------------------------------------------------------------------

    def _record(self, trial, outcome: TrialOutcome) -> None:
        if outcome.details:
            write_text(self.folder / "logs" / f"trial-{trial.number:04d}.log", outcome.details)
        unpack(outcome, self.folder)
        search.record_curve(trial, outcome.curve)
        value = statistics.fmean(run.validation for run in outcome.runs) if outcome.status is TrialStatus.COMPLETE else None
        if value is not None and not math.isfinite(value):
            outcome.status, outcome.error, value = TrialStatus.FAILED, f"validation {self.spec.metric} is {value}", None
        search.finish(self.study, trial, outcome.status, value, {
            "runs": [vars(run) for run in outcome.runs], "node": outcome.node, "error": outcome.error,
            "seconds": outcome.seconds,
        })

    def _handle(self, event) -> None:
        flight = self.in_flight[event.task.number]
        if event.kind is EventKind.FINISHED:
            del self.in_flight[event.task.number]
            self.durations.append(time.monotonic() - flight.started)
            self._record(flight.trial, event.outcome)
            return
        self.lost += 1
        if flight.attempts >= MAX_ATTEMPTS:
            del self.in_flight[event.task.number]
            self._record(flight.trial, TrialOutcome(event.task.number, TrialStatus.FAILED,
                                                    error=f"{event.reason}, {flight.attempts} times"))
            return
        flight.attempts += 1
        flight.started = time.monotonic()
        if self.progress:
            print(f"{self.spec.name}: trial {event.task.number}: {event.reason}; sending it again", flush=True)
        self.pool.submit(event.task)

    # -- reporting ---------------------------------------------------------------------------------

    def result(self) -> SweepResult:
        return collect(self.spec, self.study, self.folder, lost=self.lost, seconds=time.monotonic() - self.started)

    def _eta(self, finished: int) -> float | None:
        total = self.spec.trial_budget
        if not self.durations:
            return None
        per_trial = statistics.fmean(self.durations) / max(1, self.pool.capacity())
        left = None if total is None else max(0, total - finished) * per_trial
        if self.spec.budget.minutes:
            time_left = 60 * self.spec.budget.minutes - (time.monotonic() - self.started)
            left = time_left if left is None else min(left, max(time_left, 0) + per_trial)
        return left

    def report(self, result: SweepResult) -> None:
        finished = len(result.finished)
        progress = Progress(
            done=finished, pruned=result.count(TrialStatus.PRUNED), failed=result.count(TrialStatus.FAILED),
            running=len(self.in_flight), total=self.spec.trial_budget, best=result.best, metric=self.spec.metric,
            eta_seconds=self._eta(finished), lost=self.lost,
        )
        if self.progress:
            print(progress.line(self.spec.name), flush=True)
        if self.on_progress is not None:
            self.on_progress(progress)

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> SweepResult:
        stale = self.study.get_trials(deepcopy=False, states=(search.TrialState.RUNNING,))
        self.waiting.extend(search.resume(self.study, trial) for trial in stale)
        done = search.finished_count(self.study.get_trials(deepcopy=False))
        if self.progress:
            again = f"; {len(stale)} left running by an interrupted sweep are sent again" if stale else ""
            print(f"{self.spec.name}: {self.spec.sampler} search over {len(self.spec.axes)} axes on "
                  f"{self.pool.where}; {done} trials already finished in {self.folder}{again}", flush=True)
        while True:
            self._fill()
            result = self.result()
            result.write()
            self.report(result)
            if not self.in_flight and not self.waiting:
                return result
            for event in self.pool.poll(timeout=30.0):
                self._handle(event)


def collect(spec: SweepSpec, study, folder: Path, *, lost: int = 0, seconds: float = 0.0) -> SweepResult:
    """The results table from the study: one record per trial, read from the journal."""
    trials = []
    for trial in study.get_trials(deepcopy=False):
        attributes = trial.user_attrs
        trials.append(TrialRecord(
            number=trial.number, status=search.status_of(trial), point=search.point_of(spec, trial.params),
            runs=[RunSummary(**run) for run in attributes.get("runs", [])], node=attributes.get("node", ""),
            error=attributes.get("error", ""), seconds=attributes.get("seconds"),
        ))
    names = spec.short_names()
    return SweepResult(
        folder=folder, name=spec.name, description=spec.description, base=spec.base_name, dataset=spec.base.dataset,
        features=spec.base.features, metric=spec.metric, direction=spec.direction, sampler=spec.sampler,
        axes=[{"key": axis.key, "name": names[axis.key], "values": axis.describe(),
               "choices": list(axis.values) if isinstance(axis, Choice) else None,
               "log": isinstance(axis, Range) and axis.log} for axis in spec.axes],
        seeds=list(spec.seeds), quick=spec.quick,
        budget={"trials": spec.trial_budget, "minutes": spec.budget.minutes}, trials=trials, lost=lost,
        seconds=seconds,
    )


def default_folder(spec: SweepSpec) -> Path:
    """``sweeps/<name>``, or ``sweeps/<name>-quick`` for ``--quick`` (never mixed with real trials)."""
    return Path("sweeps") / (f"{spec.name}-quick" if spec.quick else spec.name)


def _pool(address: str | None, workers: int | None, threads: int | None, folder: Path):
    if address:
        from shallowdeep.sweeps.cluster import RayPool

        return RayPool(address, threads or 1), False, threads or 1
    cores = usable_cores()
    workers = workers if workers is not None else min(cores, 8)
    if workers == 0:
        return InlinePool(), True, 0
    if workers < 0:
        raise SweepError(f"--workers {workers}: give a number of worker processes, or 0 to train in this process")
    threads = threads if threads is not None else max(1, cores // workers)
    if threads < 1:
        raise SweepError(f"--threads {threads}: give at least 1 thread per worker")
    return LocalPool(workers, threads, folder / "logs"), True, threads


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    threads: int | None = None,
    address: str | None = None,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    on_progress: Callable[[Progress], None] | None = None,
) -> SweepResult:
    """Run (or continue) ``spec`` in the folder ``out``; the results table, with its figures written.

    Locally (default) ``workers`` processes (default: the usable cores, at most 8) of ``threads``
    threads each (default: cores // workers); ``workers=0`` trains in this process. With ``address`` (``HOST:PORT`` of a Ray cluster's
    head) every trial is a Ray task asking for ``threads`` CPUs (default 1).
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder):
        _check_identity(spec, folder)
        study = search.open_study(spec, folder)
        pool, shared, threads = _pool(address, workers, threads, folder)
        driver = _Driver(spec, folder, pool, shared, str(data_dir) if data_dir else None, threads, progress,
                         on_progress, study)
        try:
            result = driver.run()
        finally:
            pool.close()
        from shallowdeep.sweeps.figures import write_figures

        write_figures(result, folder / FIGURES)
        return result
