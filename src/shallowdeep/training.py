"""Train one experiment end to end: build, fit with a checkpoint per epoch, evaluate, save.

:func:`train` is what ``shallowdeep train`` runs. It is reproducible on a CPU (the same seed gives
the same history), keeps every completed epoch when interrupted (Ctrl-C, crash, kill) and can
continue from the last one (``resume=True``). A resumed run re-seeds at the epoch it continues
from, so it is deterministic too, but not bit-identical to a run that was never interrupted.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shallowdeep._keras import keras
from shallowdeep.augment import with_augmentation
from shallowdeep.config import OPTIMIZERS, ConfigError, Experiment
from shallowdeep.data.info import DATASETS
from shallowdeep.evaluation import choose_threshold, classification_metrics, predict_probabilities, roc_curve
from shallowdeep.models import ModelError, create_model, load_model
from shallowdeep.plots import save_confusion_figure, save_history_figure, save_roc_figure
from shallowdeep.prepare import PreparedData, input_shape, prepare_data
from shallowdeep.runs import (
    atomic_write_text, environment, finish_run, find_interrupted_run, new_run_dir, read_state, write_json,
)
from shallowdeep.weights import weight_table_markdown, weight_table_records

DTYPE_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


@dataclass
class RunResult:
    """A finished run: its folder, test metrics and per-epoch history."""

    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, float]]


def is_binary(experiment: Experiment) -> bool:
    return experiment["training"]["loss"] == "binary_crossentropy"


def build_model(experiment: Experiment) -> keras.Model:
    """The experiment's model (augmentation in front), not yet compiled.

    A builder's refusal names the experiment file.
    """
    classes = len(DATASETS[experiment["dataset"]["name"]].classes)
    binary = is_binary(experiment)
    model_config = experiment["model"]
    try:
        model = create_model(
            model_config["builder"], input_shape(experiment),
            outputs=1 if binary else classes,
            output_activation="sigmoid" if binary else "softmax",
            dtype=DTYPE_POLICIES[experiment["training"]["precision"]],
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
    model.compile(optimizer=optimizer, loss=_loss(training), metrics=["accuracy"],
                  steps_per_execution=training["steps_per_execution"])


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


def _targets(labels: np.ndarray, experiment: Experiment, classes: int) -> np.ndarray:
    loss = experiment["training"]["loss"]
    if loss == "categorical_crossentropy":
        return keras.utils.to_categorical(labels, classes)
    if loss == "binary_crossentropy":
        return labels.astype(np.float32)[:, None]
    return labels


class _EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: record its metrics and wall time, save the model, then the state."""

    def __init__(self, run_dir: Path, history: list[dict[str, float]]):
        super().__init__()
        self.run_dir, self.history = run_dir, history
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items() if k in HISTORY_COLUMNS}}
        row["seconds"] = time.perf_counter() - self.started
        self.history.append(row)
        save_checkpoint(self.model, self.run_dir, self.history)


def _checkpoint_path(run_dir: Path, epochs_done: int) -> Path:
    return run_dir / f"checkpoint-epoch{epochs_done:03d}.keras"


def save_checkpoint(model: keras.Model, run_dir: Path, history: list[dict]) -> None:
    """Model first, then history and state: the state never points at a checkpoint not yet on disk."""
    epochs_done = len(history)
    target = _checkpoint_path(run_dir, epochs_done)
    temporary = run_dir / f".writing-{target.name}"
    model.save(temporary)
    os.replace(temporary, target)
    atomic_write_text(run_dir / "history.csv", history_csv(history))
    write_json(run_dir / "state.json", {**read_state(run_dir), "epochs_done": epochs_done})
    for older in run_dir.glob("checkpoint-epoch*.keras"):
        if older != target:
            older.unlink()


def history_csv(history: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({key: row.get(key, "") for key in HISTORY_COLUMNS})
    return buffer.getvalue()


def read_history(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as stream:
        return [{k: int(v) if k == "epoch" else float(v) for k, v in row.items() if v != ""}
                for row in csv.DictReader(stream)]


def _verbosity(progress: bool) -> int:
    if not progress:
        return 0
    return 1 if sys.stdout.isatty() else 2  # a live bar on a terminal, one line per epoch in logs


def _evaluate(model, experiment: Experiment, data: PreparedData) -> dict[str, Any]:
    """Validation and test metrics from one ordered prediction pass over each split."""
    batch = max(256, experiment["training"]["batch_size"])
    p_val = predict_probabilities(model, data.x_val, batch)
    p_test = predict_probabilities(model, data.x_test, batch)
    names = data.class_names
    if not is_binary(experiment) and len(names) != 2:
        return {"validation": classification_metrics(data.y_val, p_val, names),
                "test": classification_metrics(data.y_test, p_test, names)}

    configured = experiment["evaluation"]["threshold"]
    chosen = choose_threshold(data.y_val, p_val[:, 1])
    threshold = chosen if configured == "validation" else configured
    metrics: dict[str, Any] = {
        "threshold_rule": "maximises Youden's J on validation" if configured == "validation" else "fixed in the experiment",
        "validation": classification_metrics(data.y_val, p_val, names, threshold),
        "test": classification_metrics(data.y_test, p_test, names, threshold),
    }
    alternative = 0.5 if configured == "validation" else chosen
    metrics["alternative"] = {
        "rule": "the default 0.5" if configured == "validation" else "maximises Youden's J on validation",
        "validation": classification_metrics(data.y_val, p_val, names, alternative),
        "test": classification_metrics(data.y_test, p_test, names, alternative),
    }
    fpr, tpr, _ = roc_curve(data.y_test, p_test[:, 1])
    metrics["roc_test"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    return metrics


def _write_results(run_dir: Path, experiment: Experiment, model, data: PreparedData,
                   history: list[dict], metrics: dict) -> None:
    name = experiment.name
    model.save(run_dir / "model.keras")
    atomic_write_text(run_dir / "weights.md", f"# Weights of {name}\n\n{weight_table_markdown(model)}\n")
    write_json(run_dir / "weights.json", weight_table_records(model))
    write_json(run_dir / "metrics.json", metrics)
    save_history_figure(history, run_dir / "history.png", title=f"{name}: loss and accuracy per epoch")
    test = metrics["test"]
    save_confusion_figure(test["confusion_matrix"], data.class_names, run_dir / "confusion.png",
                          title=f"{name}: test set, accuracy {test['accuracy']:.4f}")
    if "roc_test" in metrics:
        roc = metrics["roc_test"]
        save_roc_figure(
            [("test", np.array(roc["fpr"]), np.array(roc["tpr"]), test["roc_auc"])],
            run_dir / "roc.png",
            operating_points=[(f"threshold {test['threshold']:.3f}", 1 - test["specificity"], test["sensitivity"])],
            title=f"{name}: ROC on the test set",
        )


def train(
    experiment: Experiment,
    *,
    runs_dir: str | os.PathLike = "runs",
    data_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    data: PreparedData | None = None,
) -> RunResult:
    """Train ``experiment``, evaluate it on its test set and write its run folder.

    ``resume=True`` continues the newest interrupted run of the same resolved experiment (and
    starts a new one if there is none). ``data`` skips loading when the caller already has it.
    """
    training = experiment["training"]
    runs_dir = Path(runs_dir)
    run_dir = find_interrupted_run(runs_dir, experiment) if resume else None
    history = read_history(run_dir) if run_dir else []
    epochs_done = read_state(run_dir).get("epochs_done", 0) if run_dir else 0
    history = history[:epochs_done]

    keras.utils.set_random_seed(training["seed"] + epochs_done)
    if run_dir and epochs_done:
        model = load_model(_checkpoint_path(run_dir, epochs_done))
    else:
        model = build_model(experiment)  # before loading data: a bad model fails fast
    if data is None:
        data = prepare_data(experiment, data_dir, progress)
    if not model.compiled:  # a resumed checkpoint comes with its optimizer state and schedule
        compile_model(model, experiment, train_samples=len(data.y_train))
    if run_dir is None:
        run_dir = new_run_dir(runs_dir, experiment)
        atomic_write_text(run_dir / "config.toml", experiment.to_toml())
        write_json(run_dir / "environment.json", environment(training["precision"]))

    classes = len(data.class_names)
    weights = class_weights(experiment, data.y_train, data.class_names)
    if epochs_done < training["epochs"]:
        model.fit(
            data.x_train, _targets(data.y_train, experiment, classes),
            batch_size=training["batch_size"], epochs=training["epochs"], initial_epoch=epochs_done,
            validation_data=(data.x_val, _targets(data.y_val, experiment, classes)),
            class_weight=weights, shuffle=True, verbose=_verbosity(progress),
            callbacks=[_EpochCheckpoint(run_dir, history)],
        )
    evaluation_started = time.perf_counter()
    metrics = _evaluate(model, experiment, data)
    metrics.update({
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
        "evaluation_seconds": time.perf_counter() - evaluation_started,
    })
    _write_results(run_dir, experiment, model, data, history, metrics)
    for checkpoint in run_dir.glob("checkpoint-epoch*.keras"):
        checkpoint.unlink()
    return RunResult(finish_run(run_dir), metrics, history)
