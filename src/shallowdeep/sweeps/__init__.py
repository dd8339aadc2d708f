"""Sweeps: the lab's "try several models, keep the best", done honestly and in parallel.

A sweep varies an experiment along axes (:mod:`~shallowdeep.sweeps.spec`), lets Optuna choose the
points and keep the study in a journal that survives ``kill -9`` (:mod:`~shallowdeep.sweeps.search`),
trains each trial as ordinary run folders in worker processes on this machine
(:mod:`~shallowdeep.sweeps.execution`) or as tasks on a Ray cluster
(:mod:`~shallowdeep.sweeps.cluster`), driven by :mod:`~shallowdeep.sweeps.runner`, and chooses on
validation only (:mod:`~shallowdeep.sweeps.results`, :mod:`~shallowdeep.sweeps.figures`).

>>> import shallowdeep as sd
>>> result = sd.sweep("raw", quick=True)        # doctest: +SKIP
>>> result.best.point, result.best.test("accuracy")   # doctest: +SKIP
"""

from shallowdeep.sweeps.results import SweepError, SweepResult, TrialRecord, TrialStatus
from shallowdeep.sweeps.spec import SweepSpec, list_sweeps, load_sweep

__all__ = ["SweepError", "SweepResult", "SweepSpec", "TrialRecord", "TrialStatus", "list_sweeps", "load_sweep"]
