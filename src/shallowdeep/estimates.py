"""How long an experiment will take on this machine, from a short measured probe.

The time of a training run is mostly ``epochs x (training steps x seconds per step + validation
steps x seconds per validation step + starting its calls + a checkpoint, or a share of one)``,
plus what is paid once: building and tracing the model, loading the data, the final evaluation,
saving. :func:`probe` measures these costs on this machine by training and evaluating the
experiment's own model, at its batch size, precision and batches per backend call, on random
inputs of its input shape (the arithmetic does not depend on the pixels), for a few seconds; the
counts of steps come from the dataset's known sizes. No dataset is loaded. A model's first steps
include tracing it into a graph, so the timed steps follow a warm-up call whose duration is
counted once, as the run will pay it once. On JAX, which compiles for the shapes of the arrays a
step reads, the probe's arrays have the run's shapes (zeros past the examples it times), and its
warm-up covers the run's smaller last batches: the run then reads those programs from JAX's
compilation cache (:func:`shallowdeep.backend.use_compilation_cache`) instead of compiling them
again (raw-1, an epoch: four programs; 2.6 -> 0.75 s compiling in the run, 2-core Xeon with AMX).

A run's own timings are kept (:func:`remember`, in the cache folder) and stand in for the probe
the next time the same experiment is forecast on the same machine with the same versions
(:func:`remembered`): a lab run again costs no probe.

Timings on a shared machine move with its load: an estimate is a forecast, corrected while the
lab runs (:class:`Progress`).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shallowdeep.backend import environment, keras, resolve_precision
from shallowdeep.cache import cache_path, read_entry, write_entry
from shallowdeep.data import get_dataset
from shallowdeep.epochs import EpochPlan, epoch_runner
from shallowdeep.experiments import Experiment
from shallowdeep.memory import release_freed_memory
from shallowdeep.prepare import training_divisor
from shallowdeep.training import CHECKPOINT_RATIO, build_model, class_weights, compile_model, example_weights, targets

#: Seconds a timed call lasts at least.
PROBE_SECONDS = 0.3
#: Timings of each call, of which the fastest is kept.
REPEATS = 2
#: The most training batches the probe holds in memory and times in one epoch.
MAX_PROBE_BATCHES = 32
#: The most validation batches it times in one pass.
MAX_PROBE_VALIDATION_BATCHES = 8
#: Seconds per experiment the probe does not see: data from the cache, evaluation, figures, files
#: (measured on a 2-core AMD EPYC Zen 4: 1-3 s; a first decode of the 5,840 chest X-rays adds
#: about 4-30 s).
FIXED_SECONDS = 2.0


@dataclass(frozen=True)
class Estimate:
    """The forecast of one experiment: its wall time and what it is made of."""

    name: str
    seconds: float
    epochs: int
    seconds_per_epoch: float
    once_seconds: float


def split_sizes(experiment: Experiment) -> tuple[int, int, int]:
    """(train, validation, test) examples the experiment will use, from the dataset's known sizes."""
    dataset, training = experiment["dataset"], experiment["training"]
    source = get_dataset(experiment.dataset)
    sizes = source.sample_counts(dataset)
    train, test = sizes["train"], sizes["test"]
    if training["validation"] == "dataset":
        train, validation = source.validation_sizes(dataset)
    else:
        validation = round(train * training["validation"])
        train -= validation
    if dataset["train_limit"]:
        fraction = min(1.0, dataset["train_limit"] / sizes["train"])
        train, validation = round(train * fraction), round(validation * fraction)
    if dataset["test_limit"]:
        test = min(test, dataset["test_limit"])
    return max(train, 1), max(validation, 1), test


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _per_batch(seconds: list[float], batches: int) -> float:
    """A step's seconds from the calls of one and of ``batches`` batches (the whole second call
    over its batches where noise leaves no difference)."""
    one, many = seconds
    return (many - one) / (batches - 1) if many > one else many / batches


def _inputs(rng: np.random.Generator, shape: tuple[int, ...], filled: int, dtype) -> np.ndarray:
    """Zeros of ``shape``, but for the first ``filled`` examples: random pixels (uint8) or features."""
    values = np.zeros(shape, dtype)
    head = values[:filled]
    pixels = values.dtype == np.uint8
    head[...] = rng.integers(0, 256, head.shape, dtype=np.uint8) if pixels else rng.random(head.shape, dtype=np.float32)
    return values


def _with_last_batch(examples: int, size: int, batch: int) -> np.ndarray:
    """The first ``examples`` examples, then as many as the smaller last batch of ``size`` holds."""
    return np.concatenate([np.arange(examples), np.arange(size % batch)])


def probe(experiment: Experiment) -> Estimate:
    """Measure one experiment's training and validation steps here and forecast its wall time.

    The probe trains as the run does (:mod:`shallowdeep.epochs`, its compiled calls). A call costs
    a fixed time besides its batches, so a training step's cost is the difference between an epoch
    of ``n`` batches and one of one batch, over ``n - 1``; ``n`` grows until the epoch lasts
    :data:`PROBE_SECONDS`. Work that shares the machine can only slow a call down, so each is timed
    :data:`REPEATS` times (the last call of that growth counting as one) and the fastest kept
    (measured on a shared 2-core machine: single calls now and then took twice as long).
    """
    training = experiment["training"]
    batch = training["batch_size"]
    train_size, validation_size, test_size = split_sizes(experiment)
    steps, validation_steps = math.ceil(train_size / batch), math.ceil(validation_size / batch)
    most = max(2, min(MAX_PROBE_BATCHES, train_size // batch))  # full batches, as many as the run has
    validation_batches = max(1, min(MAX_PROBE_VALIDATION_BATCHES, validation_size // batch))
    # On JAX, arrays of the run's shapes, so that it compiles the run's programs (module docstring);
    # elsewhere, just the examples timed.
    rows, validation_rows = most * batch, validation_batches * batch
    if keras.backend.backend() == "jax":
        rows, validation_rows = max(rows, train_size), max(validation_rows, validation_size)
    rng = np.random.default_rng(0)
    classes = len(experiment.class_names)
    divisor = training_divisor(experiment)  # the run's training inputs: its pixels as uint8, or features
    x = _inputs(rng, (rows, *experiment.input_shape), most * batch, np.float32 if divisor is None else np.uint8)
    x_val = _inputs(rng, (validation_rows, *experiment.input_shape), validation_batches * batch, np.float32)
    labels, validation_labels = rng.integers(0, classes, rows), rng.integers(0, classes, validation_rows)
    sample_weight = example_weights(class_weights(experiment, labels, experiment.class_names), labels, classes)
    model = build_model(experiment)
    compile_model(model, experiment, train_samples=train_size)
    runner = epoch_runner(model, x, targets(labels, experiment, classes), sample_weight, x_val,
                          targets(validation_labels, experiment, classes), batch_size=batch,
                          steps_per_call=training["steps_per_execution"], divide_by=divisor)

    def fit(batches: int) -> float:
        return _timed(lambda: runner.train_epoch(EpochPlan(np.arange(batches * batch))))

    def validate() -> float:
        return _timed(lambda: runner.validate(np.arange(validation_batches * batch)))

    # Tracing the model into compiled calls, paid once: the run's calls, the smaller last batch of
    # an epoch and of a validation pass included.
    once = (_timed(lambda: runner.train_epoch(EpochPlan(_with_last_batch(2 * batch, train_size, batch))))
            + _timed(lambda: runner.validate(_with_last_batch(batch, validation_size, batch))))
    batches = min(4, most)
    seconds = fit(batches)
    while batches < most and seconds < PROBE_SECONDS:
        batches = min(2 * batches, most)
        seconds = fit(batches)
    fits = [min(fit(1) for _ in range(REPEATS)), min([seconds] + [fit(batches) for _ in range(REPEATS - 1)])]
    train_step = _per_batch(fits, batches)
    validation_step = min(validate() for _ in range(REPEATS)) / validation_batches
    starts = max(0.0, fits[0] - train_step)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = _timed(lambda: model.save(Path(folder) / "checkpoint.keras"))
    keras.backend.clear_session()
    release_freed_memory()
    per_epoch = steps * train_step + validation_steps * validation_step + starts
    per_epoch += min(checkpoint, per_epoch / CHECKPOINT_RATIO)  # one per epoch, or per 20x its cost of training
    evaluation = (validation_size + test_size) * validation_step / batch  # one prediction per example
    once += evaluation + FIXED_SECONDS
    return Estimate(experiment.name, training["epochs"] * per_epoch + once, training["epochs"], per_epoch, once)


def _timings_key(experiment: Experiment) -> dict[str, Any]:
    """What a run's timings depend on: the resolved experiment (whatever its number of epochs),
    the machine (CPU, GPU) and the versions of what computes (shallowdeep, Keras, the backend,
    NumPy, Python)."""
    machine = environment(resolve_precision(experiment["training"]["precision"]))
    return {"kind": "timings-1", "experiment": experiment.with_settings(epochs=1).digest(),
            **{name: value for name, value in machine.items() if name not in ("precision_reason", "platform")}}


def remembered(experiment: Experiment) -> Estimate | None:
    """The forecast from a run of the same experiment measured before on this machine, with the
    same versions (:func:`remember`), or ``None``: no probe is needed then."""
    key = _timings_key(experiment)
    stored = read_entry(cache_path("timings", key), key)
    if stored is None:
        return None
    per_epoch, once = float(stored["seconds_per_epoch"]), float(stored["once_seconds"])
    epochs = experiment["training"]["epochs"]
    return Estimate(experiment.name, epochs * per_epoch + once, epochs, per_epoch, once)


def remember(experiment: Experiment, seconds_per_epoch: Sequence[float], seconds: float) -> None:
    """Keep what a run that trained all its epochs in ``seconds`` took, for :func:`remembered`:
    the median epoch (the first one traces the model) and the rest as paid once."""
    per_epoch = statistics.median(seconds_per_epoch)
    key = _timings_key(experiment)
    write_entry(cache_path("timings", key), key, {
        "seconds_per_epoch": np.float64(per_epoch),
        "once_seconds": np.float64(max(0.0, seconds - len(seconds_per_epoch) * per_epoch)),
    })


def minutes(seconds: float) -> str:
    """``"45 s"``, ``"3.2 min"``, ``"1 h 05 min"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest:02d} min"


class Progress:
    """Elapsed time and time left, the forecast corrected by how the finished experiments went."""

    def __init__(self, estimates: dict[str, float]):
        self.remaining = dict(estimates)
        self.started = time.perf_counter()
        self.forecast_done = 0.0
        self.actual_done = 0.0

    def finished(self, name: str, seconds: float) -> None:
        self.forecast_done += self.remaining.pop(name, 0.0)
        self.actual_done += seconds

    def skipped(self, name: str) -> None:
        self.remaining.pop(name, None)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def left(self) -> float:
        """The remaining forecast, scaled by actual / forecast time of what is done."""
        correction = self.actual_done / self.forecast_done if self.forecast_done else 1.0
        return sum(self.remaining.values()) * correction

    def line(self) -> str:
        return f"elapsed {minutes(self.elapsed)}, about {minutes(self.left)} left"
