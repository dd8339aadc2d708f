"""Which runs the explorer shows, and the opaque keys a request names them by.

The runs are found once, when the server starts: the folders named on the command line (a run
folder, a folder of runs such as ``runs/``, or a lab's report folder holding ``runs/`` and
``runs-quick/``), else the lab's report folder and ``runs/`` in the current directory. Each gets
a key made from its experiment's name (``cnn-3``, ``cnn-3-2`` for a second one); a request names
a run by that key only, looked up in a dictionary, so nothing a request sends ever becomes part
of a filesystem path.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shallowdeep.data import get_dataset
from shallowdeep.errors import ShallowDeepError
from shallowdeep.runs import PARTIAL_SUFFIX, Run

#: Where runs are looked for when none are named: the lab's report folder, then ``runs/``.
DEFAULT_PLACES = (Path("lab-report") / "runs", Path("lab-report") / "runs-quick", Path("runs"))
#: The model families the page tells apart, by the features a run's model reads.
FAMILIES = {"raw": "MLP on pixels", "hog": "MLP on HOG", "image": "CNN"}


class ExplorerError(ShallowDeepError):
    """The explorer cannot start: no runs, a folder that holds none, a port taken."""


@dataclass(frozen=True)
class Entry:
    """One run the explorer shows: its key in requests, the label on the page, the run."""

    key: str
    label: str
    run: Run

    @property
    def is_digit_model(self) -> bool:
        return get_dataset(self.run.experiment.dataset).digits

    @property
    def is_xray_model(self) -> bool:
        experiment = self.run.experiment
        return get_dataset(experiment.dataset).xrays and experiment.features == "image"

    @property
    def family(self) -> str:
        return FAMILIES.get(self.run.experiment.features, self.run.experiment.features)


def _finished_runs_in(folder: Path) -> list[Run]:
    """The newest finished run of each experiment in a folder of runs (``<folder>/<name>/<time>``)."""
    found = []
    for experiment_folder in sorted(path for path in folder.iterdir() if path.is_dir()):
        finished = sorted(path for path in experiment_folder.iterdir()
                          if path.is_dir() and not path.name.endswith(PARTIAL_SUFFIX)
                          and (path / "config.toml").is_file() and Run(path).finished)
        if finished:
            found.append(Run(finished[-1]))
    return found


def _runs_at(place: Path) -> list[Run]:
    """A run folder, a folder of runs, or a lab report folder holding ``runs``/``runs-quick``."""
    if (place / "config.toml").is_file():
        run = Run.open(place)
        if not run.finished:
            raise ExplorerError(f"{place} has not finished training; finish it with `shallowdeep train "
                                f"{place / 'config.toml'} --resume`, or leave it out")
        return [run]
    runs = _finished_runs_in(place)
    for name in ("runs", "runs-quick"):
        if not runs and (place / name).is_dir():
            runs = _finished_runs_in(place / name)
    return runs


def find_runs(paths: Sequence[str | os.PathLike] = (), runs_dir: str | os.PathLike | None = None) -> list[Run]:
    """The finished runs at ``paths`` and in ``runs_dir``; with neither, those in
    :data:`DEFAULT_PLACES` (relative to the current directory). Raises :class:`ExplorerError`
    when a named place holds no finished run, or when nothing is found at all."""
    named = [Path(path) for path in paths] + ([Path(runs_dir)] if runs_dir is not None else [])
    runs: list[Run] = []
    for place in named:
        if not place.is_dir():
            raise ExplorerError(f"{place}: no such folder; name a run folder (runs/cnn-3/<time>), a folder "
                                f"of runs (runs/) or a lab's report folder (lab-report/)")
        found = _runs_at(place)
        if not found:
            raise ExplorerError(f"{place} holds no finished run; train one (`shallowdeep train cnn-3 "
                                f"--runs-dir {place}`) or name another folder")
        runs.extend(found)
    if not named:
        for place in DEFAULT_PLACES:
            if place.is_dir():
                runs.extend(_finished_runs_in(place))
        if not runs:
            places = ", ".join(f"{place}/" for place in DEFAULT_PLACES)
            raise ExplorerError(f"no finished runs in {places} (looked in {Path.cwd()}); run "
                                f"`shallowdeep lab --quick` first, or name run folders: "
                                f"`shallowdeep explore runs/cnn-3/<time>`")
    return list(dict.fromkeys(runs))  # the same run named twice is shown once


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "run"


def _shallow_to_deep(run: Run) -> tuple[bool, int]:
    """MNIST runs first, from the MLPs on pixels to the CNNs, as the lab tells them; then the others."""
    experiment = run.experiment
    return not get_dataset(experiment.dataset).digits, list(FAMILIES).index(experiment.features) if experiment.features in FAMILIES else len(FAMILIES)


def catalog(runs: Sequence[Run]) -> list[Entry]:
    """The runs with their keys and labels: MNIST's first, shallow to deep, otherwise in the order
    given. A name that several runs share gets the runs' folder in its label
    (``cnn-3 (runs-quick/<time>)``) and a numbered key (``cnn-3-2``)."""
    runs = sorted(runs, key=_shallow_to_deep)
    names = Counter(run.name for run in runs)
    keys: set[str] = set()
    entries = []
    for run in runs:
        key, number = _slug(run.name), 1
        while key in keys:
            number += 1
            key = f"{_slug(run.name)}-{number}"
        keys.add(key)
        label = run.name if names[run.name] == 1 else f"{run.name} ({run.path.parent.parent.name}/{run.path.name})"
        entries.append(Entry(key, label, run))
    return entries
