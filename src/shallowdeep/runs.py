"""Run folders: one per training run, written so that an interruption never leaves a half-run
looking finished.

A run lives in ``<runs_dir>/<experiment>/<UTC time>-<config digest>.partial/`` while it trains
(checkpoints and history are kept there after every epoch) and is renamed, in one atomic step,
to the same name without ``.partial`` once every file is written. ``state.json`` records the
digest of the resolved experiment and the package version, so a finished run can be found again
for the same configuration and code, and an interrupted one resumed.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from shallowdeep import __version__
from shallowdeep.config import Experiment
from shallowdeep.errors import ShallowDeepError

STATE_FILE = "state.json"
PARTIAL_SUFFIX = ".partial"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def read_state(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _identity(experiment: Experiment) -> dict:
    return {"digest": experiment.digest(), "version": __version__}


def _matching(runs_dir: Path, experiment: Experiment, partial: bool) -> list[Path]:
    folder = Path(runs_dir) / experiment.name
    if not folder.is_dir():
        return []
    identity = _identity(experiment)
    found = [
        path for path in folder.iterdir()
        if path.is_dir() and path.name.endswith(PARTIAL_SUFFIX) == partial
        and {k: read_state(path).get(k) for k in identity} == identity
    ]
    return sorted(found, key=lambda path: path.name)


def find_finished_run(runs_dir: Path, experiment: Experiment) -> Path | None:
    """The newest finished run of the same resolved experiment with this version of the code."""
    found = _matching(runs_dir, experiment, partial=False)
    return found[-1] if found else None


def find_interrupted_run(runs_dir: Path, experiment: Experiment) -> Path | None:
    """The newest unfinished run of the same resolved experiment, if any (for ``--resume``)."""
    found = _matching(runs_dir, experiment, partial=True)
    return found[-1] if found else None


def new_run_dir(runs_dir: Path, experiment: Experiment) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = Path(runs_dir) / experiment.name / f"{stamp}-{experiment.digest()[:8]}{PARTIAL_SUFFIX}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = path.with_name(f"{stamp}-{experiment.digest()[:8]}-{suffix}{PARTIAL_SUFFIX}")
    path.mkdir(parents=True)
    write_json(path / STATE_FILE, {**_identity(experiment), "epochs_done": 0, "finished": False})
    return path


def finish_run(partial: Path) -> Path:
    """Mark the run finished and move it to its final name in one rename."""
    state = read_state(partial)
    write_json(partial / STATE_FILE, {**state, "finished": True})
    final = partial.with_name(partial.name[: -len(PARTIAL_SUFFIX)])
    os.replace(partial, final)
    return final


def environment(precision: str) -> dict[str, Any]:
    """What a reader needs to reproduce a run: versions, backend, precision, CPU."""
    import numpy
    import tensorflow

    from shallowdeep._keras import keras

    return {
        "shallowdeep": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "tensorflow": tensorflow.__version__,
        "precision": precision,
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_run(path: str | os.PathLike) -> Path:
    """A run folder from its path, or from the path of a model file inside it."""
    path = Path(path)
    run_dir = path.parent if path.is_file() else path
    if not (run_dir / "config.toml").is_file():
        raise ShallowDeepError(
            f"{path} is not a shallowdeep run folder (no config.toml beside the model); give the "
            f"folder that `shallowdeep train` printed, e.g. runs/cnn-3/20260101-120000-abcd1234"
        )
    return run_dir
