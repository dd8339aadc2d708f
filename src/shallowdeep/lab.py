"""``shallowdeep lab``: train every experiment of a suite, then write the report.

Each experiment is trained at most once per resolved configuration and version of the code: a
finished run in ``<out>/runs`` is reused (``force=True`` retrains), an interrupted one resumes from
its last checkpoint, and one experiment failing is recorded with its error while the others go on.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shallowdeep.config import SUITES, Experiment, list_presets, load_experiment
from shallowdeep.data import find_chest_xray
from shallowdeep.data.info import CHEST_XRAY_HOW_TO_GET
from shallowdeep.errors import ShallowDeepError

#: The order of the report: the reference report's experiments, then the course's baselines,
#: then the pooled CNN variants, then the best suite.
ORDER = ("raw-1", "raw-2", "raw-3", "hog-1", "hog-2", "hog-3", "cnn-1", "cnn-2", "cnn-3", "xray-1",
         "handout-raw", "handout-hog", "handout-cnn", "cnn-1-pooled", "cnn-2-pooled", "cnn-3-pooled",
         "mnist-fast", "mnist-best", "xray-best", "pneumoniamnist-best")
LAB_SUITES = (*SUITES, "all")

#: --quick: a small slice and one epoch (no warm-up), to check the pipeline end to end in minutes.
_ONE_EPOCH = ["training.epochs=1", "training.warmup_epochs=0"]
QUICK = {
    "mnist": ["dataset.train_limit=2000", "dataset.test_limit=1000", *_ONE_EPOCH],
    "pneumoniamnist": ["dataset.train_limit=1000", "dataset.test_limit=300", *_ONE_EPOCH],
    "chest_xray": ["dataset.train_limit=400", "dataset.test_limit=200", *_ONE_EPOCH],
}


@dataclass
class LabEntry:
    """One experiment of the lab: what happened to it and where its run is."""

    name: str
    experiment: Experiment | None
    status: str  # trained | reused | failed | skipped
    run_dir: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0


@dataclass
class LabResult:
    entries: list[LabEntry]
    report_markdown: Path
    report_html: Path
    seconds: float


def suite_members(suite: str) -> list[str]:
    """The presets of ``suite`` (``all``: every preset) in report order."""
    if suite not in LAB_SUITES:
        raise ShallowDeepError(f"unknown suite {suite!r}; choose one of {', '.join(LAB_SUITES)}")
    names = [name for name in list_presets()
             if suite == "all" or load_experiment(name)["suite"] == suite]
    return sorted(names, key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name))


def training_order(names: list[str]) -> list[str]:
    """The chest X-ray experiments first, then the others in report order.

    Memory that TensorFlow's CPU kernels free goes back to their own pool, not to the system, so a
    long lab's resident memory grows to what its experiments left behind plus the largest one's
    need. Training the largest first lets the smaller ones reuse its blocks (measured on the full
    bf16 lab: peak RSS 2.14 GiB with the chest X-ray CNN last, 1.62 GiB with it first).
    """
    return sorted(names, key=lambda name: load_experiment(name)["dataset"]["name"] != "chest_xray")


def _overrides(base: Experiment, quick: bool, precision: str | None, xray_dir: Path | None) -> list[str]:
    overrides = list(QUICK[base["dataset"]["name"]]) if quick else []
    if precision:
        overrides.append(f'training.precision="{precision}"')
    if xray_dir is not None and base["dataset"]["name"] == "chest_xray":
        overrides.append(f"dataset.path={json.dumps(str(xray_dir))}")
    return overrides


def _load_finished(run_dir: Path) -> tuple[dict, list[dict]]:
    from shallowdeep.training import read_history

    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")), read_history(run_dir)


def run_lab(
    suite: str = "seed",
    out: str | os.PathLike = "lab-report",
    *,
    quick: bool = False,
    lang: str = "en",
    force: bool = False,
    precision: str | None = None,
    data_dir: str | os.PathLike | None = None,
    xray_dir: str | os.PathLike | None = None,
    progress: bool = True,
    command: str = "shallowdeep lab",
) -> LabResult:
    """Train (or reuse) every experiment of ``suite`` and write ``<out>/report.md`` and ``report.html``."""
    from shallowdeep.report import write_report
    from shallowdeep.training import train

    started = time.perf_counter()
    out = Path(out)
    runs_dir = out / ("runs-quick" if quick else "runs")
    xray_path = Path(xray_dir) if xray_dir else None
    xray_root = xray_path or find_chest_xray(data_dir)
    members = suite_members(suite)
    names = training_order(members)
    entries: list[LabEntry] = []
    for position, name in enumerate(names, start=1):
        base = load_experiment(name)
        if base["dataset"]["name"] == "chest_xray" and (xray_root is None or not xray_root.is_dir()):
            where = f"{xray_dir} does not exist" if xray_dir else "no chest X-ray folder in the data directory"
            print(f"[{position}/{len(names)}] {name}: skipped ({where})", flush=True)
            entries.append(LabEntry(name, base, "skipped", error=f"{where}. {CHEST_XRAY_HOW_TO_GET}"))
            continue
        experiment = load_experiment(name, _overrides(base, quick, precision, xray_path))
        finished = None if force else _find_finished(runs_dir, experiment)
        if finished is not None:
            metrics, history = _load_finished(finished)
            print(f"[{position}/{len(names)}] {name}: reusing {finished}", flush=True)
            entries.append(LabEntry(name, experiment, "reused", finished, metrics, history))
            continue
        print(f"[{position}/{len(names)}] {name}: training {experiment['training']['epochs']} epoch(s)", flush=True)
        begun = time.perf_counter()
        try:
            result = train(experiment, runs_dir=runs_dir, data_dir=data_dir, resume=True, progress=progress)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # one experiment failing must not lose the others
            log = out / "logs" / f"{name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc(), encoding="utf-8")
            message = f"{type(error).__name__}: {error}".strip()
            print(f"[{position}/{len(names)}] {name}: FAILED: {message} (traceback in {log})", flush=True)
            entries.append(LabEntry(name, experiment, "failed", error=message, seconds=time.perf_counter() - begun))
            continue
        entries.append(LabEntry(name, experiment, "trained", result.run_dir, result.metrics, result.history,
                                seconds=time.perf_counter() - begun))
        _release_memory()
    entries.sort(key=lambda entry: members.index(entry.name))
    markdown, html = write_report(entries, out, suite=suite, quick=quick, lang=lang, command=command,
                                  seconds=time.perf_counter() - started, data_dir=data_dir)
    return LabResult(entries, markdown, html, time.perf_counter() - started)


def _release_memory() -> None:
    """Drop the finished experiment's model, graphs and arrays before the next one is built."""
    import gc

    from shallowdeep._keras import keras

    keras.backend.clear_session()
    gc.collect()


def _find_finished(runs_dir: Path, experiment: Experiment) -> Path | None:
    from shallowdeep.runs import find_finished_run

    found = find_finished_run(runs_dir, experiment)
    return found if found is not None and (found / "metrics.json").is_file() else None
