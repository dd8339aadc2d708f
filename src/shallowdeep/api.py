"""The Python API: what the ``shallowdeep`` command does, as functions a notebook can call.

>>> import shallowdeep as sd
>>> run = sd.train("cnn-3", epochs=2)                # a finished Run
>>> run.metrics["test"]["accuracy"], run.model       # doctest: +SKIP
>>> sd.plots.history_figure(run.history)             # doctest: +SKIP
>>> sd.report([run], "out/", lang="fr")              # doctest: +SKIP

Functions are named so that none hides a module of the package (``sd.report`` is this module's
function; the rendering lives in :mod:`shallowdeep.reporting`).

Settings are Python values: ``epochs=2``, a dotted key ``**{"model.args.hidden": [256]}``, or a
section as a nested dict, ``model={"args": {"hidden": [256]}}`` (see
:func:`shallowdeep.experiments.load_experiment`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shallowdeep.experiments import (  # noqa: F401 (LAB_SUITES, PRECISIONS: the choices the CLI offers)
    LAB_SUITES, PRECISIONS, Experiment, list_presets, load_experiment, parse_assignment, suite_members,
)
from shallowdeep.version import __version__  # noqa: F401 (`shallowdeep --version`)

if TYPE_CHECKING:
    from shallowdeep.backend import keras
    from shallowdeep.data import DataStatus
    from shallowdeep.outcomes import RunRecord
    from shallowdeep.runs import Run
    from shallowdeep.explorer import BackgroundServer
    from shallowdeep.lab import LabResult
    from shallowdeep.predict import Prediction
    from shallowdeep.sweeps import SweepResult
    from shallowdeep.sweeps.runner import Progress


def experiment(name_or_path: str | os.PathLike | Experiment, *, overrides: Iterable[str] = (),
               **settings: Any) -> Experiment:
    """A preset (by name), a TOML file (by path) or an :class:`Experiment`, with ``overrides``
    (``--set`` strings such as ``"training.epochs=2"``) and then ``settings`` applied."""
    if isinstance(name_or_path, Experiment):
        return name_or_path.with_overrides(dict(map(parse_assignment, overrides))).with_settings(**settings)
    return load_experiment(name_or_path, list(overrides), **settings)


def dry_run(name_or_path: str | os.PathLike | Experiment, *, overrides: Iterable[str] = (), **settings: Any) -> str:
    """What ``shallowdeep train --dry-run`` prints: the resolved experiment, every default filled in,
    and its model's weight table. Nothing is trained and no data is read."""
    from shallowdeep.models import weight_table, weight_table_markdown
    from shallowdeep.training import build_model

    chosen = experiment(name_or_path, overrides=overrides, **settings)
    table = weight_table_markdown(weight_table(build_model(chosen)), chosen.input_shape)
    return f"# {chosen.name}, resolved from {chosen.source}\n\n{chosen.to_toml()}\n{table}"


def check_data(
    datasets: Sequence[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    progress: bool = True,
) -> DataStatus:
    """Where each dataset's files are looked for and whether each is verified (official checksum),
    missing or corrupt, with how to fix what is not; ``download=True`` fetches what is missing.

    >>> status = sd.check_data(["mnist"])                           # doctest: +SKIP
    >>> status.ok, [check.state for check in status.checks]         # doctest: +SKIP
    """
    from shallowdeep.data import data_status

    return data_status(datasets, data_dir, download=download, progress=progress)


def presets(suite: str | None = None) -> list[str]:
    """The names of the shipped presets, all of them or one suite's (``"seed"``, ``"best"``, ...)."""
    return list_presets() if suite is None else suite_members(suite)


def preset_summaries(suite: str | None = None) -> list[dict[str, Any]]:
    """Name, suite, dataset, input, parameter count, epochs and description of each preset (all of
    them or one suite's), as ``shallowdeep list`` shows them. Counts are read from the package
    where the preset's architecture is the one counted, else its model is built to count them."""
    from shallowdeep.experiments.parameters import known_parameter_count

    rows = []
    for name in presets(suite):
        preset = load_experiment(name)
        params = known_parameter_count(preset)
        if params is None:
            from shallowdeep.training import build_model

            params = int(build_model(preset).count_params())
        rows.append({"name": name, "suite": preset["suite"], "dataset": preset.dataset,
                     "features": preset.describe_input(), "params": params, "epochs": preset["training"]["epochs"],
                     "description": preset["description"]})
    return rows


def train(
    name_or_path: str | os.PathLike | Experiment,
    *,
    runs_dir: str | os.PathLike = "runs",
    data_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    **settings: Any,
) -> Run:
    """Train an experiment, evaluate it, write its run folder; the finished :class:`Run`.

    >>> run = sd.train("raw-1", epochs=2, train_limit=6000)   # doctest: +SKIP
    """
    from shallowdeep.training import train as train_experiment

    return train_experiment(experiment(name_or_path, **settings), runs_dir=runs_dir, data_dir=data_dir,
                            resume=resume, progress=progress)


def load_run(path: str | os.PathLike) -> Run:
    """The finished (or interrupted) run in folder ``path``, or holding the model file ``path``."""
    from shallowdeep.runs import Run

    return Run.open(path)


def evaluate(
    model_or_run: Run | keras.Model | str | os.PathLike,
    dataset: str | None = None,
    *,
    preset: str | os.PathLike | Experiment | None = None,
    data_dir: str | os.PathLike | None = None,
    progress: bool = False,
    **settings: Any,
) -> dict[str, Any]:
    """Metrics of a model on a dataset, through the preprocessing it expects.

    On a dataset it was trained for: validation and test metrics. On an evaluation-only set of
    digits (``"synthdigits"``, for a model trained on MNIST): the metrics of each rendering
    (``metrics["renderings"]["fill"]["accuracy"]``), the same as ``shallowdeep evaluate``, and a
    :class:`Run` keeps them in its folder for reports (``run.evaluation("synthdigits")``).

    A :class:`Run` (or its folder) brings its own experiment: its features, its threshold rule,
    its validation split. A bare ``keras.Model`` takes ``preset`` (a preset whose
    preprocessing it was trained with), or else the first preset whose input shape matches the
    model's on ``dataset``. ``dataset`` and ``settings`` (``test_limit=1000``) override the
    experiment's.

    >>> sd.evaluate("runs/cnn-3/20260101-120000-abcd1234", "synthdigits")["renderings"]["fill"]["accuracy"]  # doctest: +SKIP
    """
    from shallowdeep.evaluation import evaluate_model
    from shallowdeep.prepare import evaluation_only_datasets, prepare_data
    from shallowdeep.runs import Run

    if isinstance(model_or_run, (str, os.PathLike)):
        model_or_run = Run.open(model_or_run)
    outside = dataset in evaluation_only_datasets()
    if isinstance(model_or_run, Run):
        if outside:
            from shallowdeep.generalisation import evaluate_run_outside

            return evaluate_run_outside(model_or_run, dataset).metrics
        model, base = model_or_run.model, model_or_run.experiment
    else:
        model = model_or_run
        base = experiment(preset) if preset is not None else _matching_preset(model, None if outside else dataset, digits=outside)
        if outside:
            from shallowdeep.generalisation import evaluate_outside

            return evaluate_outside(model, base.with_settings(**settings), dataset).metrics
    if dataset is not None and dataset != base.dataset:
        settings = {"dataset.name": dataset, **settings}
    chosen = base.with_settings(**settings)
    return evaluate_model(model, chosen, prepare_data(chosen, data_dir, progress)).metrics


def _matching_preset(model: keras.Model, dataset: str | None, *, digits: bool = False) -> Experiment:
    """The first preset whose model takes ``model``'s inputs, on ``dataset`` (any where None), and on
    digits where ``digits`` (a model evaluated on digits from outside its training set)."""
    from shallowdeep.data import get_dataset

    shape = tuple(model.inputs[0].shape[1:])
    for name in list_presets():
        candidate = load_experiment(name)
        if (candidate.input_shape == shape and (dataset is None or candidate.dataset == dataset)
                and (not digits or get_dataset(candidate.dataset).digits)):
            return candidate
    from shallowdeep.errors import ShallowDeepError

    raise ShallowDeepError(
        f"no preset takes inputs of shape {shape}{f' on {dataset}' if dataset else ''}"
        f"{' on digits' if digits else ''}; pass "
        f"preset= the preset or TOML file the model was trained with"
    )


def predict_images(run: Run | str | os.PathLike, images: Sequence[str | os.PathLike]) -> list[Prediction]:
    """Class probabilities for image files, through the run's own preprocessing and threshold."""
    from shallowdeep.predict import predict_images as predict

    return predict(run, list(images))


def adapt(
    run: Run | str | os.PathLike,
    images: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    labelled: str | os.PathLike | None = None,
    runs_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    batch_norm: bool = True,
    prevalence: bool = True,
    progress: bool = True,
) -> Run:
    """A finished binary run adapted to a new site from its unlabelled images (what ``shallowdeep
    adapt`` does): batch-norm statistics measured on the images, the site's prevalence estimated and
    the threshold set for it; a new finished :class:`Run` (``<name>-adapted``), evaluated at that
    threshold on the source's test split or on ``labelled`` (a folder with one subfolder per class).

    >>> adapted = sd.adapt("runs/xray-best/20260101-120000-abcd1234", "hospital-b/")   # doctest: +SKIP
    >>> adapted.metrics["adaptation"]["prevalence"]["estimated"]                          # doctest: +SKIP
    """
    from shallowdeep.adaptation import adapt as adapt_run

    return adapt_run(run, images, labelled=labelled, runs_dir=runs_dir, data_dir=data_dir,
                     batch_norm=batch_norm, prevalence=prevalence, progress=progress)


def run_lab(suite: str = "seed", out: str | os.PathLike = "lab-report", **options: Any) -> LabResult:
    """Train (or reuse) every experiment of ``suite`` and write the report; what ``shallowdeep lab``
    does (options: ``quick``, ``lang``, ``force``, ``precision``, ``data_dir``, ``xray_dir``, ...)."""
    from shallowdeep.lab import run_lab as run

    return run(suite, out, **options)


def sweep(
    name_or_path: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    workers: int | None = None,
    threads: int | None = None,
    address: str | None = None,
    quick: bool = False,
    trials: int | None = None,
    minutes: float | None = None,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    on_progress: Callable[[Progress], None] | None = None,
    overrides: Iterable[str] = (),
    **settings: Any,
) -> SweepResult:
    """Run a sweep (a shipped one by name, or a sweep file) or continue it; its table of trials.

    The trial kept is the best on validation (``result.best``); its test score is the one honest
    figure. ``settings`` apply to every trial, as in :func:`train` (``epochs=2``); ``trials`` and
    ``minutes`` replace the file's budget; ``out`` defaults to ``sweeps/<name>`` (``-quick``).
    ``workers`` processes here (default: the cores, at most 8; 0: this process) of ``threads``
    threads, or, with ``address="HOST:PORT"``, tasks on that Ray cluster (token authentication).
    ``overrides`` are ``--set`` strings (``"training.epochs=2"``), applied before ``settings``.

    >>> result = sd.sweep("raw", quick=True, trials=4)         # doctest: +SKIP
    >>> result.best.point, result.best.test("accuracy")         # doctest: +SKIP
    """
    from shallowdeep.experiments import settings_to_overrides
    from shallowdeep.sweeps import load_sweep
    from shallowdeep.sweeps.runner import run_sweep

    given = {**dict(map(parse_assignment, overrides)), **settings_to_overrides(settings)}
    spec = load_sweep(name_or_path, quick=quick, overrides=given).with_budget(trials, minutes)
    return run_sweep(spec, out if out is not None else sweep_folder(name_or_path, quick=quick), workers=workers,
                     threads=threads, address=address, data_dir=data_dir, progress=progress, on_progress=on_progress)


def sweep_folder(name_or_path: str | os.PathLike, *, quick: bool = False) -> Path:
    """Where :func:`sweep` keeps a sweep when no ``out`` is given: ``sweeps/<name>`` (``-quick``)."""
    from shallowdeep.sweeps import load_sweep
    from shallowdeep.sweeps.runner import default_folder

    return default_folder(load_sweep(name_or_path, quick=quick))


def sweep_presets() -> list[dict[str, Any]]:
    """Each shipped sweep: its name, the experiment it starts from, its sampler, its trial budget and
    its axes (each axis's short name with its number of values, or ``"range"``)."""
    from shallowdeep.sweeps import list_sweeps, load_sweep
    from shallowdeep.sweeps.spec import Choice

    rows = []
    for name in list_sweeps():
        spec = load_sweep(name)
        axes = {short: len(axis.values) if isinstance(axis, Choice) else "range"
                for axis, short in zip(spec.axes, spec.short_names().values())}
        rows.append({"name": name, "base": spec.base_name, "sampler": spec.sampler, "trials": spec.trial_budget,
                     "axes": axes})
    return rows


def sweep_summary(result: SweepResult) -> str:
    """The sentence that says which trial was chosen, on what, and its one honest test score."""
    from shallowdeep.sweeps.results import honest_summary

    return honest_summary(result)


def report(
    runs: Sequence[Run | RunRecord | str | os.PathLike],
    out: str | os.PathLike = "report",
    *,
    lang: str = "en",
    suite: str | None = None,
    sweeps: Sequence[SweepResult | str | os.PathLike] = (),
) -> tuple[Path, Path]:
    """Write a report (Markdown and self-contained HTML) from finished runs, and from the folders
    of finished sweeps (a section per sweep, and accuracy against weights across them); its paths."""
    from shallowdeep.reporting import write_report
    from shallowdeep.outcomes import RunRecord
    from shallowdeep.runs import Run

    items = [item if isinstance(item, (Run, RunRecord)) else Run.open(item) for item in runs]
    return write_report(items, out, lang=lang, suite=suite, sweeps=sweeps)


def explore(
    runs: Sequence[Run | str | os.PathLike] = (),
    *,
    runs_dir: str | os.PathLike | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    open_browser: bool = True,
    data_dir: str | os.PathLike | None = None,
    block: bool = True,
) -> BackgroundServer | None:
    """Serve the explorer's page over finished runs (what ``shallowdeep explore`` does).

    ``runs``: runs, run folders, folders of runs or lab report folders; with none (and no
    ``runs_dir``), the lab's report folder and ``runs/`` here. ``block=False`` serves from a
    background thread and returns the server (``server.url``, ``server.stop()``), for a notebook.
    """
    from shallowdeep.explorer import BackgroundServer, accepted_hosts, create_app, find_runs, serve
    from shallowdeep.runs import Run

    given = [item for item in runs if isinstance(item, Run)]
    paths = [item for item in runs if not isinstance(item, Run)]
    found = given + (find_runs(paths, runs_dir) if paths or runs_dir is not None or not given else [])
    app = create_app(found, data_dir=data_dir, allowed_hosts=accepted_hosts(host))
    if block:
        serve(app, host, port, open_browser)
        return None
    server = BackgroundServer(app, host, port).start()
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    return server
