"""Train one experiment end to end: build, train with checkpoints, evaluate, save.

:func:`train` is what ``shallowdeep train`` and ``shallowdeep.train`` run; it returns the
finished :class:`~shallowdeep.runs.Run`. It is reproducible on a CPU (the same seed gives
the same history), keeps its last checkpoint when interrupted (Ctrl-C, crash, kill; written after
every epoch on a CPU, bounded to 5 % of the training time where epochs are short:
:class:`CheckpointSchedule`) and can continue from it (``resume=True``). A resumed run is the run that would have been: each
epoch's order of examples is drawn from (seed, epoch), and the checkpoint keeps the model, its
optimizer and the state of its random generators (dropout, augmentation).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from shallowdeep.backend import environment, keras, resolve_precision, set_random_seed, steps_per_call
from shallowdeep.epochs import EpochPlan, epoch_runner
from shallowdeep.evaluation import evaluate_model
from shallowdeep.experiments import OPTIMIZERS, ConfigError, Experiment
from shallowdeep.memory import collecting_new_objects_only
from shallowdeep.models import ModelError, create_model, with_augmentation
from shallowdeep.plots import run_figures
from shallowdeep.prepare import PreparedData, prepare_data
from shallowdeep.runs import HISTORY_COLUMNS, Run

#: Training time between two checkpoints, at least, in units of the time a checkpoint takes to write.
CHECKPOINT_RATIO = 20
#: Where a run's time goes (``metrics.json``'s ``phase_seconds``, for the process that finished it):
#: loading the data; building, compiling and placing the model and data on the device; the
#: training and validation passes (:attr:`~shallowdeep.epochs.EpochRunner.pass_seconds`); writing
#: checkpoints; the rest of each epoch (its order, progress, history, callbacks); the final
#: evaluation. Saving the results comes after and is not in it.
PHASES = ("data", "model", "passes", "checkpoints", "epochs_other", "evaluation")


def build_model(experiment: Experiment) -> keras.Model:
    """The experiment's model (augmentation in front), not yet compiled.

    A builder's refusal names the experiment file.
    """
    model_config = experiment["model"]
    try:
        model = create_model(
            model_config["builder"], experiment.input_shape,
            outputs=1 if experiment.binary else len(experiment.class_names),
            output_activation="sigmoid" if experiment.binary else "softmax",
            dtype=resolve_precision(experiment["training"]["precision"]).policy,
            **model_config["args"],
        )
    except ModelError as error:
        raise ConfigError(f"{experiment.source}: [model.args] {error}") from None
    return with_augmentation(model, **experiment["training"]["augmentation"])


def learning_rate(experiment: Experiment, steps_per_epoch: int):
    """The optimizer's learning rate: a number, or a schedule over the run's optimizer steps.

    ``cosine``: ``lr(t) = peak * t / w`` for the first ``w`` steps (warm-up), then
    ``peak * (1 + cos(pi * (t - w) / (T - w))) / 2`` down to 0 at the last step ``T``
    (Loshchilov & Hutter 2017, SGDR, without restarts), where ``peak`` is
    ``optimizer_args.learning_rate``.
    """
    training = experiment["training"]
    peak = training["optimizer_args"]["learning_rate"]
    if training["schedule"] == "constant":
        return peak
    total = steps_per_epoch * training["epochs"]
    warmup = int(round(training["warmup_epochs"] * steps_per_epoch))
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(peak, total)
    return keras.optimizers.schedules.CosineDecay(0.0, max(total - warmup, 1), warmup_target=peak,
                                                   warmup_steps=warmup)


def _loss(training: dict[str, Any]):
    if not training["label_smoothing"]:
        return training["loss"]
    loss_class = {"categorical_crossentropy": keras.losses.CategoricalCrossentropy,
                  "binary_crossentropy": keras.losses.BinaryCrossentropy}[training["loss"]]
    return loss_class(label_smoothing=training["label_smoothing"])


def compile_model(model: keras.Model, experiment: Experiment, train_samples: int) -> None:
    """Optimizer (its learning-rate schedule spans the run's batches of ``train_samples``), loss, metrics."""
    training = experiment["training"]
    steps_per_epoch = -(-train_samples // training["batch_size"])
    arguments = {**training["optimizer_args"], "learning_rate": learning_rate(experiment, steps_per_epoch)}
    optimizer = getattr(keras.optimizers, OPTIMIZERS[training["optimizer"]])(**arguments)
    if resolve_precision(training["precision"]).name == "fp16":
        # float16 flushes gradients below 6e-8 to zero: the loss is scaled up before the backward
        # pass and the gradients down after it (Micikevicius et al. 2018, "Mixed Precision
        # Training"). Keras does this by itself only for a model whose own policy is mixed_float16;
        # ours set the policy layer by layer (the output layer stays float32).
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss=_loss(training), metrics=["accuracy"],
                  steps_per_execution=steps_per_call(training["steps_per_execution"]))


def class_weights(experiment: Experiment, y_train: np.ndarray, class_names: tuple[str, ...]) -> dict[int, float] | None:
    """The weight of each class in the loss: ``balanced`` gives ``total / (classes * count)``."""
    setting = experiment["training"]["class_weight"]
    if setting == "none":
        return None
    counts = np.bincount(y_train, minlength=len(class_names))
    if setting == "balanced":
        if np.any(counts == 0):
            missing = [class_names[i] for i in np.flatnonzero(counts == 0)]
            raise ConfigError(f"{experiment.source}: class_weight = \"balanced\" but train has no {missing}")
        return {i: float(len(y_train) / (len(class_names) * count)) for i, count in enumerate(counts)}
    weights = {i: 1.0 for i in range(len(class_names))}
    for key, weight in setting.items():
        weights[int(key) if key.isdigit() else class_names.index(key)] = float(weight)
    return weights


def example_weights(weights: dict[int, float] | None, labels: np.ndarray, classes: int) -> np.ndarray | None:
    """Each example's weight in the loss, its class's (:func:`class_weights`); None without them."""
    if weights is None:
        return None
    return np.array([weights[c] for c in range(classes)], dtype=np.float32)[labels]


def targets(labels: np.ndarray, experiment: Experiment, classes: int) -> np.ndarray:
    """Labels in the form the loss expects: one-hot, a column of floats, or class indices."""
    loss = experiment["training"]["loss"]
    if loss == "categorical_crossentropy":
        return keras.utils.to_categorical(labels, classes).astype(np.float32)
    if loss == "binary_crossentropy":
        return labels.astype(np.float32)[:, None]
    return labels


def epoch_plan(count: int, seed: int, epoch: int, mixup: float = 0.0) -> EpochPlan:
    """The order in which epoch ``epoch`` visits the ``count`` training examples, and with
    ``mixup`` > 0 what each is blended with, drawn from ``(seed, epoch)`` alone: a resumed run visits
    and mixes them as the uninterrupted run would have (Keras' own shuffling draws from a generator
    whose position a restart loses).

    Mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"): the example at position
    ``i`` is blended with the one at a position drawn from the same epoch,
    ``l x_i + (1 - l) x_j`` and ``l y_i + (1 - l) y_j``, ``l ~ Beta(mixup, mixup)`` drawn per example.
    """
    order = np.random.default_rng([seed, epoch]).permutation(count)
    if not mixup:
        return EpochPlan(order)
    rng = np.random.default_rng([seed, epoch, 1])
    weights = rng.beta(mixup, mixup, size=count).astype(np.float32)
    return EpochPlan(order, partners=order[rng.permutation(count)], weights=weights)


def random_state(model: keras.Model) -> list[list[int]]:
    """The position of every random generator in ``model`` (dropout masks, augmentation draws).

    Keras saves a model's weights and optimizer but not its ``SeedGenerator`` states; they are
    the model's variables that are not weights (``model.variables`` minus ``model.weights``).
    """
    weights = {id(variable) for variable in model.weights}
    return [np.asarray(keras.ops.convert_to_numpy(variable)).tolist() for variable in model.variables
            if id(variable) not in weights]


def restore_random_state(model: keras.Model, state: list[list[int]] | None) -> None:
    """Put ``model``'s random generators back where :func:`random_state` found them."""
    if state is None:  # a checkpoint written before random states were kept
        return
    weights = {id(variable) for variable in model.weights}
    generators = [variable for variable in model.variables if id(variable) not in weights]
    if len(generators) != len(state):
        raise ValueError(f"the checkpoint has {len(state)} random generator states, the model {len(generators)}")
    for variable, value in zip(generators, state):
        variable.assign(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype)))


class CheckpointSchedule:
    """When to write the checkpoint that lets an interrupted run resume: after an epoch, once the
    training since the last one lasted at least :data:`CHECKPOINT_RATIO` times what writing the
    last one took, and after the last epoch. Writing thus costs at most 1/``CHECKPOINT_RATIO`` of
    the training time, and an interruption loses at most that much training (the resumed run
    trains those epochs again, to the same history). Where epochs last seconds (a CPU) every
    epoch gets one; a GPU's epochs of a fraction of a second share one."""

    def __init__(self) -> None:
        self.write_seconds = 0.0  # before the first write: due after the first epoch, which measures it
        self.trained_seconds = 0.0
        self.total_seconds = 0.0

    def due(self, epoch_seconds: float, last: bool = False) -> bool:
        self.trained_seconds += epoch_seconds
        return last or self.trained_seconds >= CHECKPOINT_RATIO * self.write_seconds

    def save(self, run: Run, model: keras.Model, history: list[dict]) -> None:
        started = time.perf_counter()
        run.save_checkpoint(model, history, random_state=random_state(model))
        self.write_seconds, self.trained_seconds = time.perf_counter() - started, 0.0
        self.total_seconds += self.write_seconds


def _progress_bar(progress: bool, epoch: int, epochs: int, batches: int) -> keras.utils.Progbar | None:
    """Keras' bar for an epoch: live on a terminal, one line per epoch in logs, none without progress."""
    if not progress:
        return None
    print(f"Epoch {epoch + 1}/{epochs}", flush=True)
    return keras.utils.Progbar(batches, verbose=1 if sys.stdout.isatty() else 2, stateful_metrics=HISTORY_COLUMNS)


@collecting_new_objects_only()
def train(
    experiment: Experiment,
    *,
    runs_dir: str | os.PathLike = "runs",
    data_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    data: PreparedData | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Run:
    """Train ``experiment``, evaluate it on its validation and test sets, and write its run folder.

    ``resume=True`` continues the newest interrupted run of the same resolved experiment (and
    starts a new one if there is none). ``data`` skips loading when the caller already has it.
    ``callbacks`` run after each epoch (a sweep's pruning stops a trial there).
    """
    training = experiment["training"]
    run = Run.find_interrupted(runs_dir, experiment) if resume else None
    epochs_done = run.epochs_done if run else 0
    history = run.history if run else []

    phases = dict.fromkeys(PHASES, 0.0)
    began = time.perf_counter()
    set_random_seed(training["seed"])
    if run and epochs_done:
        model = run.load_checkpoint()
        restore_random_state(model, run.state.get("random_state"))
    else:
        model = build_model(experiment)  # before loading data: a bad model fails fast
    if data is None:
        loading = time.perf_counter()
        data = prepare_data(experiment, data_dir, progress)
        phases["data"] = time.perf_counter() - loading
    if not model.compiled:  # a resumed checkpoint comes with its optimizer state and schedule
        compile_model(model, experiment, train_samples=len(data.y_train))
    if run is None:
        run = Run.create(runs_dir, experiment, environment(resolve_precision(training["precision"])))

    classes = len(data.class_names)
    weights = class_weights(experiment, data.y_train, data.class_names)
    runner = epoch_runner(
        model, data.x_train, targets(data.y_train, experiment, classes),
        example_weights(weights, data.y_train, classes),
        data.x_val, targets(data.y_val, experiment, classes),
        batch_size=training["batch_size"], steps_per_call=training["steps_per_execution"],
        divide_by=data.train_divisor,
    )
    phases["model"] = time.perf_counter() - began - phases["data"]
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    checkpoints = CheckpointSchedule()
    model.stop_training = False
    for epoch in range(epochs_done, training["epochs"]):
        started = time.perf_counter()
        callback_list.on_epoch_begin(epoch)
        bar = _progress_bar(progress, epoch, training["epochs"], runner.batches)
        logs = runner.train_epoch(epoch_plan(len(data.y_train), training["seed"], epoch, training["mixup"]),
                                  (lambda done: bar.update(done, finalize=False)) if bar else None)
        logs.update({f"val_{name}": value for name, value in runner.validate().items()})
        row = {"epoch": epoch + 1, **{k: v for k, v in logs.items() if k in HISTORY_COLUMNS}}
        row["seconds"] = time.perf_counter() - started
        if bar:
            bar.update(runner.batches, values=[(k, v) for k, v in logs.items() if k in HISTORY_COLUMNS], finalize=True)
        history.append(row)
        if checkpoints.due(row["seconds"], last=epoch == training["epochs"] - 1):
            checkpoints.save(run, model, history)
        callback_list.on_epoch_end(epoch, logs)  # a callback may end the run here (a sweep's pruning)
        if model.stop_training:
            break
    if run.epochs_done < len(history):  # stopped by a callback between checkpoints: the history is kept
        checkpoints.save(run, model, history)
    phases["passes"], phases["checkpoints"] = runner.pass_seconds, checkpoints.total_seconds
    phases["epochs_other"] = sum(row["seconds"] for row in history[epochs_done:]) - runner.pass_seconds
    evaluation_started = time.perf_counter()
    evaluation = evaluate_model(model, experiment, data)
    phases["evaluation"] = time.perf_counter() - evaluation_started
    run.write_results(model, evaluation, {
        "experiment": experiment.name,
        "params": int(model.count_params()),
        "epochs": len(history),
        "train_samples": int(len(data.y_train)),
        "class_counts": {
            split: np.bincount(labels, minlength=classes).tolist()
            for split, labels in (("train", data.y_train), ("validation", data.y_val), ("test", data.y_test))
        },
        "class_weight": {data.class_names[i]: w for i, w in weights.items()} if weights else None,
        "seconds_per_epoch": [row["seconds"] for row in history],
        "training_seconds": float(sum(row["seconds"] for row in history)),
        "evaluation_seconds": phases["evaluation"],
        "phase_seconds": phases,
    }, saved_as=run.last_checkpoint)
    write_figures(run)
    return run.finish()


def write_figures(run: Run) -> None:
    """A run's figures, from what it stored: training curves, test confusion matrix, ROC (binary)."""
    for name, figure in run_figures(run).items():
        run.save_figure(name, figure)
