"""``shallowdeep lab``: train every experiment of a suite, then write the report.

Each experiment is trained at most once per resolved configuration and version of the code: a
finished run in ``<out>/runs`` is reused (``force=True`` retrains), an interrupted one resumes from
its last checkpoint, and one experiment failing is recorded with its error while the others go on.
Every MNIST run is then evaluated on synthdigits, digits from outside MNIST (a few seconds each),
unless it already holds that evaluation, so that the report can answer which networks read digits
they were not trained on.
"""

from __future__ import annotations

import gc
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shallowdeep import training
from shallowdeep.adaptation import adapt_across_halves
from shallowdeep.backend import current_device, keras
from shallowdeep.data import find_chest_xray, get_dataset
from shallowdeep.data.info import DATASETS
from shallowdeep.estimates import Progress, minutes, probe, remember, remembered
from shallowdeep.experiments import Experiment, load_experiment, quick_overrides, suite_members
from shallowdeep.generalisation import DEFAULT_DATASET, evaluate_run_outside
from shallowdeep.memory import collecting_new_objects_only, release_freed_memory
from shallowdeep.prepare import DigitRenderings, digit_renderings
from shallowdeep.reporting import write_report
from shallowdeep.outcomes import Outcome, RunRecord
from shallowdeep.runs import Run
from shallowdeep.storage import write_text


@dataclass
class LabResult:
    """What ``shallowdeep lab`` did: one record per experiment in report order, the report files."""

    records: list[RunRecord]
    report_markdown: Path
    report_html: Path
    seconds: float
    #: Where the lab's time went: ``forecast`` (probe), ``training`` (every experiment trained here:
    #: each run's own phases are in its ``metrics.json``), ``outside_digits`` (synthdigits),
    #: ``adaptation`` (the best suite's chest X-ray runs adapted to the test folder's halves), ``report``.
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def runs(self) -> list[Run]:
        return [record.run for record in self.records if record.run is not None]

    @property
    def failed(self) -> list[str]:
        """The experiments that failed (the report says why)."""
        return [record.name for record in self.records if record.outcome is Outcome.FAILED]


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def training_order(experiments: Sequence[Experiment]) -> list[Experiment]:
    """The chest X-ray experiments (the lab's part 2) first, then the others in the order given.

    Memory that TensorFlow's CPU kernels free goes back to their own pool, not to the system, so a
    long lab's resident memory grows to what its experiments left behind plus the largest one's
    need. Training the largest first lets the smaller ones reuse its blocks (measured on the full
    bf16 lab: peak RSS 2.14 GiB with the chest X-ray CNN last, 1.62 GiB with it first).
    """
    return sorted(experiments, key=lambda experiment: get_dataset(experiment.dataset).lab_part != "xrays")


def _overrides(base: Experiment, quick: bool, precision: str | None, xray_dir: Path | None) -> dict[str, Any]:
    overrides = quick_overrides(base.dataset) if quick else {}
    if precision:
        overrides["training.precision"] = precision
    if xray_dir is not None and get_dataset(base.dataset).reads_folder:
        overrides["dataset.path"] = str(xray_dir)
    return overrides


def _release_memory() -> None:
    """Drop the finished experiment's model, graphs and arrays before the next one is built, and
    hand what they held back to the system."""
    keras.backend.clear_session()
    gc.collect()
    release_freed_memory()


@dataclass
class _Planned:
    """One experiment of the lab before it runs: skipped, reused, or to be trained."""

    experiment: Experiment
    record: RunRecord | None = None  # known already: skipped or reused
    why_skipped: str = ""


def _plan(bases: list[Experiment], runs_dir: Path, quick: bool, force: bool, precision: str | None,
          xray_dir: Path | None, xray_root: Path | None) -> list[_Planned]:
    planned = []
    for base in bases:
        dataset = get_dataset(base.dataset)
        if dataset.reads_folder and not base["dataset"]["path"] and (xray_root is None or not xray_root.is_dir()):
            where = f"{xray_dir} does not exist" if xray_dir else "no chest X-ray folder in the data directory"
            record = RunRecord(base.name, base, Outcome.SKIPPED, error=f"{where}. {dataset.how_to_get}")
            planned.append(_Planned(base, record, why_skipped=where))
            continue
        experiment = base.with_overrides(_overrides(base, quick, precision, xray_dir))
        finished = None if force else Run.find_finished(runs_dir, experiment)
        record = RunRecord(base.name, experiment, Outcome.REUSED, finished) if finished else None
        planned.append(_Planned(experiment, record))
    return planned


def _estimate(planned: list[_Planned], runs_dir: Path) -> dict[str, float]:
    """Probe every experiment to train and print the forecast; seconds by experiment."""
    to_train = [item.experiment for item in planned if item.record is None]
    if not to_train:
        return {}
    started = time.perf_counter()
    forecasts, probed = {}, []
    for experiment in to_train:
        estimate = remembered(experiment)
        if estimate is None:
            estimate = probe(experiment)
            probed.append(experiment.name)
        interrupted = Run.find_interrupted(runs_dir, experiment)
        done = interrupted.epochs_done if interrupted else 0
        forecasts[experiment.name] = estimate.seconds - done * estimate.seconds_per_epoch
    sources = [f"a {time.perf_counter() - started:.0f} s probe" if probed else "",
               "earlier runs here" if len(probed) < len(to_train) else ""]
    print(f"estimate for this machine ({current_device().name}), from {' and '.join(filter(None, sources))}: "
          + ", ".join(f"{name} {minutes(seconds)}" for name, seconds in forecasts.items())
          + f"; total about {minutes(sum(forecasts.values()))}", flush=True)
    return forecasts


class _OutsideDigits:
    """Evaluates MNIST runs on synthdigits, loading the digits once, on first need."""

    def __init__(self, out: Path):
        self.out = out
        self.digits: DigitRenderings | None = None

    def evaluate(self, record: RunRecord, tag: str) -> None:
        run = record.run
        if run is None or not get_dataset(record.experiment.dataset).digits:
            return
        stored = run.evaluation(DEFAULT_DATASET)
        if stored is not None and stored.metrics["dataset_sha256"] == DATASETS[DEFAULT_DATASET].files["test"].sha256:
            return
        try:
            if self.digits is None:
                self.digits = digit_renderings(DEFAULT_DATASET)
            metrics = evaluate_run_outside(run, DEFAULT_DATASET, self.digits).metrics
        except KeyboardInterrupt:
            raise
        except Exception as error:  # the run itself is fine: the report says it was not evaluated
            log = write_text(self.out / "logs" / f"{record.name}-{DEFAULT_DATASET}.log", traceback.format_exc())
            print(f"{tag}: not evaluated on {DEFAULT_DATASET}: {type(error).__name__}: {error} (traceback in {log})",
                  flush=True)
            return
        accuracies = ", ".join(f"{rendering} {result['accuracy']:.4f}" for rendering, result in
                               metrics["renderings"].items())
        print(f"{tag}: {DEFAULT_DATASET} (digits from outside MNIST): {accuracies}", flush=True)


def _at_a_new_site(records: list[RunRecord], xray_root: Path | None, runs_dir: Path, data_dir, progress: bool,
                   out: Path) -> dict[str, list[Run]]:
    """The best suite's chest X-ray runs adapted on each half of the test folder and measured on the
    other (reused when done before); one failing is logged and left out of the report."""
    adaptations = {}
    for record in records:
        dataset = get_dataset(record.experiment.dataset)
        if record.run is None or record.experiment["suite"] != "best" or not (dataset.reads_folder and dataset.xrays):
            continue
        try:
            adaptations[record.name] = adapt_across_halves(
                record.run, record.experiment["dataset"]["path"] or xray_root, runs_dir, data_dir=data_dir,
                progress=progress)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # the runs themselves are fine: the report goes on without this section
            log = write_text(out / "logs" / f"{record.name}-adapted.log", traceback.format_exc())
            print(f"{record.name}: not adapted to the test folder's halves: {type(error).__name__}: {error} "
                  f"(traceback in {log})", flush=True)
            continue
        shown = ", ".join(f"specificity {run.metrics['source']['test']['specificity']:.3f} -> "
                          f"{run.metrics['test']['specificity']:.3f}" for run in adaptations[record.name])
        print(f"{record.name}: adapted on each half of the test folder, measured on the other ({shown})", flush=True)
        _release_memory()
    return adaptations


@collecting_new_objects_only()
def run_lab(
    suite: str = "seed",
    out: str | os.PathLike = "lab-report",
    *,
    experiments: Sequence[str | os.PathLike] | None = None,
    quick: bool = False,
    lang: str = "en",
    force: bool = False,
    precision: str | None = None,
    data_dir: str | os.PathLike | None = None,
    xray_dir: str | os.PathLike | None = None,
    progress: bool = True,
    estimate: bool | None = None,
    command: str = "shallowdeep lab",
    sweeps: Sequence[str | os.PathLike] = (),
) -> LabResult:
    """Train (or reuse) every experiment of ``suite`` and write ``<out>/report.md`` and ``report.html``.

    ``experiments`` (preset names or TOML files) replaces the suite's presets; ``sweeps`` are the
    folders of finished sweeps the report shows too. Before training, each experiment to train is
    probed briefly and the forecast printed (``estimate``; default: yes, except ``quick`` runs,
    which are shorter than their probe); during the lab, each experiment's line gives the elapsed
    time and the time left.
    """
    started = time.perf_counter()
    out = Path(out)
    runs_dir = out / ("runs-quick" if quick else "runs")
    xray_path = Path(xray_dir) if xray_dir else None
    xray_root = xray_path or find_chest_xray(data_dir)
    bases = [load_experiment(name) for name in (experiments if experiments is not None else suite_members(suite))]
    planned = _plan(training_order(bases), runs_dir, quick, force, precision, xray_path, xray_root)
    phases = {"forecast": 0.0, "training": 0.0, "outside_digits": 0.0, "adaptation": 0.0, "report": 0.0}
    forecasts = _estimate(planned, runs_dir) if (not quick if estimate is None else estimate) else {}
    phases["forecast"] = time.perf_counter() - started
    clock = Progress(forecasts)
    records: dict[str, RunRecord] = {}
    outside = _OutsideDigits(out)
    for position, item in enumerate(planned, start=1):
        experiment, name = item.experiment, item.experiment.name
        tag = f"[{position}/{len(planned)}] {name}"
        if item.record is not None:
            records[name] = item.record
            if item.record.outcome is Outcome.SKIPPED:
                print(f"{tag}: skipped ({item.why_skipped})", flush=True)
            else:
                print(f"{tag}: reusing {item.record.run.path}", flush=True)
                phases["outside_digits"] += _timed(lambda: outside.evaluate(item.record, tag))
            continue
        forecast = f", about {minutes(forecasts[name])}" if name in forecasts else ""
        print(f"{tag}: training {experiment['training']['epochs']} epoch(s){forecast}", flush=True)
        begun = time.perf_counter()
        resumed = Run.find_interrupted(runs_dir, experiment) is not None
        try:
            run = training.train(experiment, runs_dir=runs_dir, data_dir=data_dir, resume=True, progress=progress)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # one experiment failing must not lose the others
            log = out / "logs" / f"{name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc(), encoding="utf-8")
            message = f"{type(error).__name__}: {error}".strip()
            print(f"{tag}: FAILED: {message} (traceback in {log})", flush=True)
            records[name] = RunRecord(name, experiment, Outcome.FAILED, error=message,
                                      seconds=time.perf_counter() - begun)
            phases["training"] += records[name].seconds
            clock.skipped(name)
            continue
        seconds = time.perf_counter() - begun
        phases["training"] += seconds
        if not resumed:
            remember(experiment, run.metrics["seconds_per_epoch"], seconds)
        records[name] = RunRecord(name, experiment, Outcome.TRAINED, run, seconds=seconds)
        phases["outside_digits"] += _timed(lambda: outside.evaluate(records[name], tag))
        clock.finished(name, seconds)
        print(f"{tag}: done in {minutes(seconds)}; {clock.line() if forecasts else f'elapsed {minutes(clock.elapsed)}'}",
              flush=True)
        _release_memory()
    in_report_order = [records[base.name] for base in bases]
    adapting = time.perf_counter()
    adaptations = _at_a_new_site(in_report_order, xray_root, runs_dir, data_dir, progress, out)
    phases["adaptation"] = time.perf_counter() - adapting
    reporting = time.perf_counter()
    markdown, html = write_report(in_report_order, out, suite=suite, quick=quick, lang=lang, command=command,
                                  seconds=time.perf_counter() - started, sweeps=sweeps, adaptations=adaptations)
    phases["report"] = time.perf_counter() - reporting
    return LabResult(in_report_order, markdown, html, time.perf_counter() - started, phases)
