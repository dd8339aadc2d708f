"""The search, on Optuna: a study kept in a journal file, its sampler, and the pruning rule.

- **Storage.** Every change to the study (a trial asked, its parameters, its value) is appended to
  ``<sweep>/study.journal`` (Optuna's ``JournalStorage``, one JSON line per operation, fsynced), so a
  sweep killed at any moment is reopened exactly as it was. Only the sweep's driver writes it: it
  holds the sweep folder's lock (:func:`shallowdeep.sweeps.runner.folder_lock`), which the kernel
  releases when the driver dies, so the journal needs no lock file of its own that a ``kill -9``
  could leave behind. A record cut short by a kill is never acknowledged and is dropped on reopening.
- **Samplers.** ``grid``: every point, in an order shuffled by the sweep's seed (Optuna's
  ``GridSampler``); ``random``: independent uniform or log-uniform draws; ``tpe``: the Tree-structured
  Parzen Estimator (Bergstra et al. 2011, "Algorithms for Hyper-Parameter Optimization"), with the
  "constant liar" so that trials running side by side are not all sent to the same point.
- **Pruning.** The median rule (Optuna's ``MedianPruner``; Golovin et al. 2017, "Google Vizier"): after
  ``warmup_epochs``, a trial whose best validation value so far is worse than the median of the
  finished trials' values at the same epoch stops there. It is judged in the worker, against the
  learning curves of the trials that had finished when it was sent (:class:`PruningPlan`), so it
  needs no connection back to the driver, on this machine or on a Ray cluster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import FrozenTrial, TrialState

from shallowdeep.sweeps.results import TrialStatus
from shallowdeep.sweeps.spec import Choice, SweepSpec

JOURNAL = "study.journal"
STUDY = "sweep"
#: What each trial's intermediate values are: the validation value Keras logs after every epoch.
MONITORED = {"accuracy": "val_accuracy", "loss": "val_loss"}

optuna.logging.set_verbosity(optuna.logging.WARNING)

_STATUS = {TrialState.COMPLETE: TrialStatus.COMPLETE, TrialState.PRUNED: TrialStatus.PRUNED,
           TrialState.FAIL: TrialStatus.FAILED, TrialState.RUNNING: TrialStatus.RUNNING,
           TrialState.WAITING: TrialStatus.RUNNING}


def status_of(trial: FrozenTrial) -> TrialStatus:
    return _STATUS[trial.state]


class _DriverHoldsTheFolder(JournalFileOpenLock):
    """No lock file: the driver alone writes the journal, under the sweep folder's lock (Optuna's
    lock interface, whose base class is private, is taken from its open-file lock)."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


def repair_journal(path: Path) -> None:
    """Drop a last record that a kill cut short (it has no line end); every earlier one is whole."""
    if not path.is_file():
        return
    with open(path, "rb+") as stream:
        data = stream.read()
        if data and not data.endswith(b"\n"):
            stream.truncate(data.rfind(b"\n") + 1)
            stream.flush()
            os.fsync(stream.fileno())


class _Grid(optuna.samplers.GridSampler):
    """Optuna's grid sampler, except that it does not stop the study when the grid is done: outside
    ``Study.optimize`` that raises, and the driver's budget (the grid's size) ends the sweep anyway."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


def sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    """The spec's sampler, seeded with its ``seed``."""
    if spec.sampler == "grid":
        return _Grid({axis.key: list(axis.labels) for axis in spec.axes}, seed=spec.seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    # Optuna's default of 10 random trials before TPE models anything would leave nothing for TPE
    # in a budget of 12: a third of the budget explores at random, at least 3 trials.
    startup = max(3, min(10, (spec.trial_budget or 30) // 3))
    return optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=startup, constant_liar=True)


def open_study(spec: SweepSpec, folder: Path) -> optuna.Study:
    """The sweep's study, created or reopened from ``<folder>/study.journal``."""
    path = folder / JOURNAL
    repair_journal(path)
    storage = JournalStorage(JournalFileBackend(str(path), lock_obj=_DriverHoldsTheFolder(str(path))))
    return optuna.create_study(study_name=STUDY, storage=storage, direction=spec.direction,
                               sampler=sampler(spec), load_if_exists=True)


def distributions(spec: SweepSpec) -> dict[str, BaseDistribution]:
    """Each axis as an Optuna distribution: lists as categorical choices, ranges as int or float."""
    found: dict[str, BaseDistribution] = {}
    for axis in spec.axes:
        if isinstance(axis, Choice):
            found[axis.key] = CategoricalDistribution(list(axis.labels))
        elif axis.integer:
            found[axis.key] = IntDistribution(axis.low, axis.high, log=axis.log, step=int(axis.step or 1))
        else:
            found[axis.key] = FloatDistribution(float(axis.low), float(axis.high), log=axis.log, step=axis.step)
    return found


def point_of(spec: SweepSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's parameters as setting values (``"[512]"`` back to ``[512]``), in axis order."""
    return {axis.key: axis.decode(params[axis.key]) for axis in spec.axes}


def ask(study: optuna.Study, spec: SweepSpec) -> optuna.Trial:
    return study.ask(distributions(spec))


def resume(study: optuna.Study, trial: FrozenTrial) -> optuna.Trial:
    """A handle on a trial a previous driver left running, to run and tell it again."""
    return optuna.Trial(study, trial._trial_id)


# -- pruning -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PruningPlan:
    """What a worker needs to judge its own trial: the rule, and the learning curves (epoch ->
    monitored value) of the trials that had finished when it was sent."""

    monitor: str
    direction: str
    startup_trials: int
    warmup_epochs: int
    finished: tuple[tuple[tuple[int, float], ...], ...]


def pruning_plan(spec: SweepSpec, study: optuna.Study) -> PruningPlan | None:
    if spec.pruning.kind == "none":
        return None
    curves = tuple(tuple(sorted(trial.intermediate_values.items()))
                   for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                   if trial.intermediate_values)
    return PruningPlan(MONITORED[spec.metric], spec.direction, spec.pruning.startup_trials,
                       spec.pruning.warmup_epochs, curves)


class PruningJudge:
    """Optuna's median rule for one trial, in a study of its own holding the finished curves."""

    def __init__(self, plan: PruningPlan):
        # Steps are epochs from 1; Optuna may prune from step n_warmup_steps on, so the first
        # ``warmup_epochs`` epochs are never judged with one more.
        pruner = optuna.pruners.MedianPruner(n_startup_trials=plan.startup_trials,
                                             n_warmup_steps=plan.warmup_epochs + 1)
        self.study = optuna.create_study(direction=plan.direction, pruner=pruner)
        for curve in plan.finished:
            self.study.add_trial(optuna.trial.create_trial(
                state=TrialState.COMPLETE, value=curve[-1][1], intermediate_values=dict(curve)))
        self.trial = self.study.ask()

    def should_stop(self, epoch: int, value: float) -> bool:
        """Record ``value`` after ``epoch`` (1-based); True when the trial is hopeless."""
        self.trial.report(value, epoch)
        return self.trial.should_prune()


def record_curve(trial: optuna.Trial, curve: Mapping[int, float]) -> None:
    """The trial's per-epoch monitored values, as intermediate values for later pruning plans."""
    for epoch, value in sorted(curve.items()):
        trial.report(value, epoch)


def finish(study: optuna.Study, trial: optuna.Trial, status: TrialStatus, value: float | None,
           attributes: Mapping[str, Any]) -> None:
    """Store what the trial left (runs, scores: JSON values) and tell the study how it ended."""
    for key, item in attributes.items():
        trial.set_user_attr(key, item)
    if status is TrialStatus.COMPLETE:
        study.tell(trial, value)
    else:
        study.tell(trial, state=TrialState.PRUNED if status is TrialStatus.PRUNED else TrialState.FAIL)


def finished_count(trials: Sequence[FrozenTrial]) -> int:
    return sum(trial.state.is_finished() for trial in trials)
