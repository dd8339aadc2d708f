"""Which networks read digits they were not trained on: a trained MNIST model on synthdigits.

:func:`evaluate_outside` shows a model the digits of an evaluation-only set (see
:mod:`shallowdeep.data.synthdigits`) in each of :data:`~shallowdeep.prepare.RENDERINGS`, through
exactly what ``shallowdeep predict`` does to image files (normalised as MNIST's digits were, then
the run's own features: pixels, HOG or image), and :func:`evaluate_run_outside` stores the result
in the run (``evaluations/<dataset>.json`` and ``.npz``) so that a report can show it without
predicting anything.
"""

from __future__ import annotations

import time

from shallowdeep.data import get_dataset
from shallowdeep.data.info import DATASETS
from shallowdeep.evaluation import DatasetEvaluation, evaluate_renderings, predict_probabilities
from shallowdeep.experiments import Experiment
from shallowdeep.prepare import DigitRenderings, digit_renderings, features_from_images
from shallowdeep.runs import Run, RunError
from shallowdeep.version import __version__

#: The evaluation-only set of digits the report and ``shallowdeep evaluate`` use by default.
DEFAULT_DATASET = "synthdigits"


def evaluate_outside(model, experiment: Experiment, dataset: str = DEFAULT_DATASET,
                     digits: DigitRenderings | None = None) -> DatasetEvaluation:
    """``model`` (trained on MNIST with ``experiment``'s features) on an evaluation-only set of
    digits, each rendering predicted once, in order. ``digits`` skips loading them again."""
    _check_reads_digits(experiment, dataset)
    started = time.perf_counter()
    digits = digits if digits is not None else digit_renderings(dataset)
    probabilities = {rendering: predict_probabilities(model, features_from_images(images, experiment))
                     for rendering, images in digits.images.items()}
    evaluation = evaluate_renderings(probabilities, digits, experiment.class_names,
                                     DATASETS[dataset].files["test"].sha256)
    evaluation.metrics.update(shallowdeep=__version__, seconds=time.perf_counter() - started)
    return evaluation


def _check_reads_digits(experiment: Experiment, dataset: str) -> None:
    if not get_dataset(experiment.dataset).digits:
        raise RunError(f"{experiment.name} was trained on {experiment.dataset}; {dataset} holds digits, "
                       f"for models trained on MNIST")


def evaluate_run_outside(run: Run, dataset: str = DEFAULT_DATASET,
                         digits: DigitRenderings | None = None) -> DatasetEvaluation:
    """:func:`evaluate_outside` for a finished run, stored in its folder."""
    if not run.finished:
        raise RunError(f"run {run.path} has not finished training; finish it with `shallowdeep train "
                       f"{run.path / 'config.toml'} --resume` before evaluating it")
    _check_reads_digits(run.experiment, dataset)
    evaluation = evaluate_outside(run.model, run.experiment, dataset, digits)
    run.write_evaluation(evaluation)
    return evaluation
