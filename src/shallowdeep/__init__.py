"""shallowdeep: shallow versus deep neural networks on MNIST and chest X-rays, on Keras 3.

>>> import shallowdeep as sd
>>> sd.presets("seed")
['raw-1', 'raw-2', 'raw-3', 'hog-1', 'hog-2', 'hog-3', 'cnn-1', 'cnn-2', 'cnn-3', 'xray-1']
>>> run = sd.train("cnn-3", epochs=2)                  # doctest: +SKIP
>>> run.metrics["test"]["accuracy"]                    # doctest: +SKIP
>>> sd.plots.confusion_figure(run.metrics["test"]["confusion_matrix"], run.experiment.class_names)  # doctest: +SKIP

Importing shallowdeep is cheap: Keras and its backend load when a function first needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from shallowdeep.errors import DataError, ShallowDeepError

from shallowdeep.version import __version__

#: Public names and the module each comes from, imported on first use.
_LAZY = {
    "train": "shallowdeep.api",
    "evaluate": "shallowdeep.api",
    "predict_images": "shallowdeep.api",
    "run_lab": "shallowdeep.api",
    "report": "shallowdeep.api",
    "load_run": "shallowdeep.api",
    "presets": "shallowdeep.api",
    "check_data": "shallowdeep.api",
    "dry_run": "shallowdeep.api",
    "sweep_presets": "shallowdeep.api",
    "sweep_folder": "shallowdeep.api",
    "sweep_summary": "shallowdeep.api",
    "preset_summaries": "shallowdeep.api",
    "experiment": "shallowdeep.api",
    "explore": "shallowdeep.api",
    "sweep": "shallowdeep.api",
    "adapt": "shallowdeep.api",
    "Run": "shallowdeep.runs",
    "RunError": "shallowdeep.runs",
    "Experiment": "shallowdeep.experiments",
    "ConfigError": "shallowdeep.experiments",
    "list_models": "shallowdeep.models",
    "create_model": "shallowdeep.models",
    "register_model": "shallowdeep.models",
    "load_mnist": "shallowdeep.data",
    "load_pneumoniamnist": "shallowdeep.data",
    "load_chest_xray": "shallowdeep.data",
    "hog": "shallowdeep.features",
}
_SUBMODULES = ("plots", "data", "features", "models", "experiments", "runs", "evaluation", "sweeps")

if TYPE_CHECKING:
    from shallowdeep import data, evaluation, experiments, features, models, plots, runs, sweeps
    from shallowdeep.api import (
        adapt, check_data, dry_run, evaluate, experiment, explore, load_run, predict_images, preset_summaries, presets,
        report, run_lab, sweep, sweep_folder, sweep_presets, sweep_summary, train,
    )
    from shallowdeep.data import load_chest_xray, load_mnist, load_pneumoniamnist
    from shallowdeep.experiments import ConfigError, Experiment
    from shallowdeep.features import hog
    from shallowdeep.models import create_model, list_models, register_model
    from shallowdeep.runs import Run, RunError


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"shallowdeep.{name}")
    else:
        raise AttributeError(f"module 'shallowdeep' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = ["DataError", "ShallowDeepError", "__version__", *_LAZY, *_SUBMODULES]
