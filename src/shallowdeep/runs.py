"""Run folders: :class:`Run` is the one type that reads and writes them.

A run lives in ``<runs_dir>/<experiment>/<UTC time>-<config digest>.partial/`` while it trains
(a checkpoint and the history are written after epochs, as
:class:`~shallowdeep.training.CheckpointSchedule` says) and is renamed, in one atomic step,
to the same name without ``.partial`` once every file is written. ``state.json`` records the
digest of the resolved experiment and the package version, so a finished run can be found again
for the same configuration and code, and an interrupted one resumed.

What a finished run holds:

=====================  ===========================================================================
``config.toml``        the resolved experiment, every default written out
``environment.json``   versions, backend, precision, CPU
``state.json``         digest, version, epochs done, finished
``history.csv``        loss and accuracy per epoch, training and validation, wall time per epoch
``metrics.json``       validation and test metrics (binary tasks: both thresholds, ROC points)
``model.keras``        the trained model (loaded with ``safe_mode=True``)
``model.json``         optimizer and loss as read back from the trained model, parameter count
``weights.json/.md``   the weight table: every layer's weights and biases with the formula
``predictions.npz``    every validation and test probability, with labels and test indices
``examples.npz``       the first test images and the misclassified ones, for figures
``gradcam.npz``        binary CNNs: a few test images with their Grad-CAM heat maps
``*.png``              training curves, test confusion matrix, ROC curve (binary tasks)
``evaluations/``       ``<dataset>.json`` and ``.npz``: the run on an evaluation-only set of digits
                       (``shallowdeep evaluate``): metrics of each rendering, every probability,
                       the typical mistakes
=====================  ===========================================================================

A report, the explorer or a notebook reads all of this without training or loading a dataset.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shallowdeep.version import __version__
from shallowdeep.data.info import DATASETS
from shallowdeep.errors import ShallowDeepError
from shallowdeep.evaluation import DatasetEvaluation, Evaluation, Examples, GradCamExamples, Predictions, ThresholdSource
from shallowdeep.experiments import Experiment, load_experiment
from shallowdeep.storage import atomic_path, read_json, write_json, write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from shallowdeep.backend import keras
    from shallowdeep.models import LayerWeights

PARTIAL_SUFFIX = ".partial"
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
#: Figures a finished run holds, by name.
FIGURES = ("history", "confusion", "roc")
#: The folder of a run that holds its evaluations on evaluation-only datasets.
EVALUATIONS = "evaluations"


class RunError(ShallowDeepError):
    """A folder is not a run, or a run lacks what was asked of it; the message says how to fix it."""


def history_csv(history: Sequence[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({key: row.get(key, "") for key in HISTORY_COLUMNS})
    return buffer.getvalue()


def _read_history(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as stream:
        return [{k: int(v) if k == "epoch" else float(v) for k, v in row.items() if v != ""}
                for row in csv.DictReader(stream)]


# -- folders of older versions ---------------------------------------------------------------------
# What shallowdeep 0.1 wrote differently is read into today's shape here, as the file is read, and
# nowhere else; what it did not keep at all (predictions, examples, Grad-CAM, ROC points, model.json)
# is said where it is asked for.

def _upgrade_metrics(metrics: dict) -> dict:
    """0.1 named the threshold's origin in prose; read it as data."""
    if "threshold_rule" in metrics and "threshold_source" not in metrics:
        fixed = metrics["threshold_rule"] == "fixed in the experiment"
        metrics["threshold_source"] = (ThresholdSource.EXPERIMENT if fixed else ThresholdSource.VALIDATION).value
        alternative = metrics.get("alternative", {})
        if "rule" in alternative:
            alternative["threshold_source"] = (ThresholdSource.VALIDATION if fixed else ThresholdSource.DEFAULT).value
    return metrics


def _upgrade_environment(environment: dict) -> dict:
    """0.1 trained on the CPU only, and did not record the device or why the precision was chosen."""
    return {"device": "cpu", "precision_reason": "", **environment}


_UPGRADES = {"metrics.json": _upgrade_metrics, "environment.json": _upgrade_environment}


def _read_upgraded(path: Path) -> dict:
    upgrade = _UPGRADES.get(path.name)
    stored = read_json(path)
    return upgrade(stored) if upgrade else stored


class Run:
    """A run folder. Everything is read lazily, once, when first asked for.

    >>> run = Run.open("runs/cnn-3/20260101-120000-abcd1234")   # doctest: +SKIP
    >>> run.metrics["test"]["accuracy"], len(run.history)      # doctest: +SKIP
    (0.9908, 4)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.path.resolve() == self.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    # -- finding and opening -------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        """The run in the folder ``path``, or the one holding the model file ``path``."""
        path = Path(path)
        folder = path.parent if path.is_file() else path
        if not (folder / "config.toml").is_file():
            raise RunError(
                f"{path} is not a shallowdeep run folder (no config.toml beside the model); give the "
                f"folder that `shallowdeep train` printed, e.g. runs/cnn-3/20260101-120000-abcd1234"
            )
        return cls(folder)

    @classmethod
    def create(cls, runs_dir: str | os.PathLike, experiment: Experiment, environment: dict[str, Any]) -> Run:
        """A new, unfinished run folder for ``experiment`` with its config and environment."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        base = f"{stamp}-{experiment.digest()[:8]}"
        path = Path(runs_dir) / experiment.name / f"{base}{PARTIAL_SUFFIX}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = path.with_name(f"{base}-{suffix}{PARTIAL_SUFFIX}")
        path.mkdir(parents=True)
        run = cls(path)
        write_json(path / "state.json", {**_identity(experiment), "epochs_done": 0, "finished": False})
        write_text(path / "config.toml", experiment.to_toml())
        write_json(path / "environment.json", environment)
        return run

    @classmethod
    def find_finished(cls, runs_dir: str | os.PathLike, experiment: Experiment) -> Run | None:
        """The newest finished run of the same resolved experiment with this version of the code."""
        found = _matching(Path(runs_dir), experiment, partial=False)
        return cls(found[-1]) if found else None

    @classmethod
    def find_interrupted(cls, runs_dir: str | os.PathLike, experiment: Experiment) -> Run | None:
        """The newest unfinished run of the same resolved experiment, if any (for ``--resume``)."""
        found = _matching(Path(runs_dir), experiment, partial=True)
        return cls(found[-1]) if found else None

    # -- reading -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def state(self) -> dict[str, Any]:
        return _read_state(self.path)

    @property
    def finished(self) -> bool:
        return not self.path.name.endswith(PARTIAL_SUFFIX) and bool(self.state.get("finished"))

    @property
    def epochs_done(self) -> int:
        return int(self.state.get("epochs_done", 0))

    @cached_property
    def experiment(self) -> Experiment:
        """The resolved experiment the run trained (``config.toml``)."""
        return load_experiment(self.path / "config.toml")

    @cached_property
    def environment(self) -> dict[str, Any]:
        return _read_upgraded(self.path / "environment.json")

    @property
    def history(self) -> list[dict[str, float]]:
        """One row per completed epoch: loss, accuracy, val_loss, val_accuracy, seconds."""
        return _read_history(self.path / "history.csv")[: self.epochs_done]

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """Validation and test metrics, and how the run went (params, epochs, training time)."""
        return _read_upgraded(self._finished_file("metrics.json"))

    def weight_table(self) -> list[LayerWeights]:
        """Every layer's weights and biases with the formula that gives them."""
        from shallowdeep.models import LayerWeights

        return [LayerWeights.from_record(row) for row in read_json(self._finished_file("weights.json"))]

    @cached_property
    def model(self) -> keras.Model:
        """The trained Keras model, loaded on first use with ``safe_mode=True``."""
        from shallowdeep.models import load_model

        return load_model(self._finished_file("model.keras"))

    @cached_property
    def training_setup(self) -> dict[str, Any]:
        """Optimizer (class and arguments) and loss, as read back from the trained model."""
        path = self.path / "model.json"
        if path.is_file():
            return read_json(path)
        return describe_compiled_model(self.model)  # runs written before model.json existed

    @cached_property
    def predictions(self) -> Predictions:
        """Every validation and test probability, with the labels of the same rows."""
        return Predictions(**self._arrays("predictions.npz"))

    @cached_property
    def examples(self) -> Examples:
        """The first test images and the misclassified ones the model was surest of."""
        return Examples(**self._arrays("examples.npz"))

    @cached_property
    def grad_cam(self) -> GradCamExamples | None:
        """A few test images with the Grad-CAM heat map of the predicted class (binary CNNs); None
        for other runs and for runs written before shallowdeep kept them."""
        if not (self.path / "gradcam.npz").is_file():
            return None
        return GradCamExamples(**self._arrays("gradcam.npz"))

    def evaluation(self, dataset: str) -> DatasetEvaluation | None:
        """The run's stored evaluation on the evaluation-only ``dataset`` (``synthdigits``), or None
        if it was never evaluated there (``shallowdeep evaluate RUN --dataset synthdigits``)."""
        metrics_path = self._evaluation_path(dataset, ".json")
        if not metrics_path.is_file():
            return None
        with np.load(self._evaluation_path(dataset, ".npz"), allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
        return DatasetEvaluation(read_json(metrics_path), arrays)

    def _evaluation_path(self, dataset: str, suffix: str) -> Path:
        if dataset not in DATASETS or not DATASETS[dataset].evaluation_only:
            kept = [name for name, info in DATASETS.items() if info.evaluation_only]
            raise RunError(f"runs store evaluations on {', '.join(kept)} only, not on {dataset!r}")
        return self.path / EVALUATIONS / f"{dataset}{suffix}"

    def figure_path(self, name: str) -> Path | None:
        """The PNG of figure ``name`` (one of :data:`FIGURES`), if this run has one."""
        if name not in FIGURES:
            raise ValueError(f"no figure named {name!r}; runs have {', '.join(FIGURES)}")
        path = self.path / f"{name}.png"
        return path if path.is_file() else None

    def _finished_file(self, name: str) -> Path:
        path = self.path / name
        if not path.is_file():
            state = "has not finished training" if not self.finished else "has no " + name
            raise RunError(f"run {self.path} {state}; finish it with `shallowdeep train "
                           f"{self.path / 'config.toml'} --resume` or train it again")
        return path

    def _arrays(self, name: str) -> dict[str, np.ndarray]:
        path = self.path / name
        if not path.is_file():
            version = self.state.get("version", "an older version")
            raise RunError(
                f"run {self.path} has no {name}: it was written by shallowdeep {version}, which did not "
                f"keep it. Train it again with this version: `shallowdeep train {self.path / 'config.toml'}`"
            )
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}

    # -- writing (training) --------------------------------------------------------------------

    def _checkpoint_path(self, epochs_done: int) -> Path:
        return self.path / f"checkpoint-epoch{epochs_done:03d}.keras"

    def save_checkpoint(self, model: keras.Model, history: Sequence[dict], **state: Any) -> None:
        """After an epoch: the model first, then history, then state, so the state never points
        at a checkpoint that is not on disk yet. ``state`` adds entries to ``state.json``."""
        epochs_done = len(history)
        target = self._checkpoint_path(epochs_done)
        with atomic_path(target, suffix=".keras") as temporary:
            model.save(temporary)
        write_text(self.path / "history.csv", history_csv(history))
        write_json(self.path / "state.json", {**self.state, **state, "epochs_done": epochs_done})
        self._remove_checkpoints(keep=target)

    @property
    def last_checkpoint(self) -> Path:
        """The checkpoint of the last completed epoch (``save_checkpoint`` keeps only that one)."""
        return self._checkpoint_path(self.epochs_done)

    def load_checkpoint(self) -> keras.Model:
        """The model as it was after the last completed epoch, with its optimizer state."""
        from shallowdeep.models import load_model

        return load_model(self.last_checkpoint)

    def _remove_checkpoints(self, keep: Path | None = None) -> None:
        for checkpoint in self.path.glob("checkpoint-epoch*.keras"):
            if checkpoint != keep:
                checkpoint.unlink()

    def inherit_history(self, source: Run) -> None:
        """A run made from ``source`` without training (an adapted run) shows the training it came from."""
        write_text(self.path / "history.csv", history_csv(source.history))
        write_json(self.path / "state.json", {**self.state, "epochs_done": source.epochs_done})

    def write_results(self, model: keras.Model, evaluation: Evaluation, extra_metrics: dict[str, Any],
                      saved_as: Path | None = None) -> None:
        """The trained model, what was read back from it and its evaluation (the figures are drawn
        by who trained it: :func:`shallowdeep.training.write_figures`). ``saved_as`` is a file
        that holds ``model`` as it is now (the last checkpoint): ``model.keras`` is a hard link to
        it instead of a second save, where the file system has hard links."""
        from shallowdeep.models import weight_table, weight_table_markdown

        with atomic_path(self.path / "model.keras", suffix=".keras") as temporary:
            if not (saved_as and _hard_link(saved_as, temporary)):
                model.save(temporary)
        write_json(self.path / "model.json", describe_compiled_model(model))
        rows = weight_table(model)
        write_text(self.path / "weights.md", f"# Weights of {self.name}\n\n"
                   f"{weight_table_markdown(rows, tuple(model.inputs[0].shape[1:]))}\n")
        write_json(self.path / "weights.json", [row.to_record() for row in rows])
        arrays_files = [("predictions.npz", evaluation.predictions.arrays()),
                        ("examples.npz", evaluation.examples.arrays())]
        if evaluation.grad_cam is not None:
            arrays_files.append(("gradcam.npz", evaluation.grad_cam.arrays()))
        for name, arrays in arrays_files:
            with atomic_path(self.path / name, suffix=".npz") as temporary:
                np.savez_compressed(temporary, **arrays)
        write_json(self.path / "metrics.json", {**evaluation.metrics, **extra_metrics})
        self.__dict__.pop("metrics", None)

    def write_evaluation(self, evaluation: DatasetEvaluation) -> None:
        """Store an evaluation on an evaluation-only dataset: the arrays, then the metrics, whose
        presence says the evaluation is complete. A later evaluation replaces it."""
        dataset = evaluation.metrics["dataset"]
        with atomic_path(self._evaluation_path(dataset, ".npz"), suffix=".npz") as temporary:
            np.savez_compressed(temporary, **evaluation.arrays)
        write_json(self._evaluation_path(dataset, ".json"), evaluation.metrics)

    def save_figure(self, name: str, figure: Figure) -> Path:
        from shallowdeep.plots import save_figure

        return save_figure(figure, self.path / f"{name}.png")

    def finish(self) -> Run:
        """Mark the run finished and move it to its final name in one rename; the finished run."""
        self._remove_checkpoints()
        write_json(self.path / "state.json", {**self.state, "finished": True})
        final = self.path.with_name(self.path.name.removesuffix(PARTIAL_SUFFIX))
        os.replace(self.path, final)
        return Run(final)


def describe_compiled_model(model: keras.Model) -> dict[str, Any]:
    """The optimizer's class and arguments, the loss and the parameter count of a compiled model
    (the optimizer inside a loss-scaling wrapper, with ``loss_scaling`` true)."""
    loss = model.loss
    loss_name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    return {
        "optimizer": type(optimizer).__name__,
        "optimizer_config": _jsonable(optimizer.get_config()),
        "loss_scaling": optimizer is not model.optimizer,
        "loss": loss_name,
        "params": int(model.count_params()),
        "input_shape": list(model.inputs[0].shape[1:]),
    }


def _hard_link(source: Path, target: Path) -> bool:
    """``target`` (replaced) as a second name of ``source``'s file; False where that cannot be."""
    try:
        target.unlink(missing_ok=True)
        os.link(source, target)
    except OSError:
        return False
    return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and np.ndim(value) == 0:
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _identity(experiment: Experiment) -> dict[str, str]:
    return {"digest": experiment.digest(), "version": __version__}


def _read_state(path: Path) -> dict[str, Any]:
    try:
        return read_json(path / "state.json")
    except (OSError, ValueError):
        return {}


def _matching(runs_dir: Path, experiment: Experiment, partial: bool) -> list[Path]:
    folder = runs_dir / experiment.name
    if not folder.is_dir():
        return []
    identity = _identity(experiment)
    found = [
        path for path in folder.iterdir()
        if path.is_dir() and path.name.endswith(PARTIAL_SUFFIX) == partial
        and {k: _read_state(path).get(k) for k in identity} == identity
        and (partial or (path / "metrics.json").is_file())
    ]
    return sorted(found, key=lambda path: path.name)
