"""The package as a user gets it: the wheel and sdist built from this checkout's files (tracked and
not ignored, as a fresh clone would have them), their metadata and contents, and the wheel
installed into fresh virtual environments, without a backend and with one.

The environments are made and filled by uv (the test extra): the same requirements as pip
resolves them, in 1-5 s instead of the 60 s pip takes for a fresh environment on a 2-core AMD EPYC
Zen 4. JAX is the backend: its CPU wheels are the smallest of the three. Marked slow (a minute or
two, most of it the 1-epoch training and the interpreter starts).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "shallowdeep"


def _run(command: list, *, check: bool = True, timeout: float = 600, **arguments) -> subprocess.CompletedProcess:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout,
                          **arguments)
    if check and done.returncode:
        raise AssertionError(f"{' '.join(map(str, command))} exited {done.returncode}:\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _checkout_files() -> list[str]:
    """What a fresh clone of this checkout holds: tracked files and new ones git does not ignore."""
    listed = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """The wheel and the sdist, built (``python -m build``) from a copy of the checkout's files."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in _checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    _run([sys.executable, "-m", "build", "--installer", "uv", "--outdir", out, source])
    return {"wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz"))}


def test_the_wheel_and_the_sdist_pass_twine_check(dists):
    """twine check renders the README as PyPI would show it and checks the metadata."""
    done = _run([sys.executable, "-m", "twine", "check", "--strict", dists["wheel"], dists["sdist"]])
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_the_wheel_holds_every_file_of_the_package(dists):
    """Every module and every file the package reads (presets, report templates, the explorer's
    page, synthdigits) is in the wheel, and nothing else is."""
    in_checkout = {name.removeprefix("src/") for name in _checkout_files() if name.startswith("src/shallowdeep/")}
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        in_wheel = {name for name in wheel.namelist() if name.startswith("shallowdeep/")}
        metadata = next(wheel.read(name).decode() for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    assert in_wheel == in_checkout
    for kind in ("experiments/presets/raw-1.toml", "sweeps/presets/", "reporting/templates/", "explorer/static/",
                 "data/synthdigits.npz"):
        assert any(name.startswith(f"shallowdeep/{kind}") for name in in_wheel), kind
    assert "Requires-Dist: scikit-image" in metadata and "Provides-Extra: jax" in metadata


def test_the_sdist_holds_the_sources_the_wheel_is_built_from(dists):
    with tarfile.open(dists["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in ("pyproject.toml", "README.md", "LICENSE"):
        assert needed in names
    assert {name for name in _checkout_files() if name.startswith("src/shallowdeep/")} <= names


def _environment(tmp_path: Path, wheel: Path, extra: str | None) -> tuple[Path, dict[str, str]]:
    """A fresh virtual environment holding the wheel (and ``extra``), and the environment
    variables of a user's shell: nothing of this test run's own Python or Keras settings."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, venv])
    _run([sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", venv / "bin" / "python",
          f"{wheel}[{extra}]" if extra else wheel])
    variables = {name: value for name, value in os.environ.items()
                 if not name.startswith(("PYTEST", "KERAS", "PYTHON", "VIRTUAL_ENV", "TF_", "JAX"))}
    variables.update(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", KERAS_HOME=str(tmp_path / "keras"),
                     SHALLOWDEEP_CACHE=str(tmp_path / "cache"))
    return venv / "bin" / "shallowdeep", variables


def test_without_a_backend_every_command_that_needs_none_works(dists, real_data_dir, tmp_path):
    shallowdeep, variables = _environment(tmp_path, dists["wheel"], None)
    assert _run([shallowdeep, "--version"], env=variables).stdout.startswith("shallowdeep ")
    verified = _run([shallowdeep, "data", "--data-dir", real_data_dir, "--no-progress"], env=variables).stdout
    assert "mnist" in verified.lower() and "verified" in verified
    for command in ("lab", "train", "predict", "explore", "sweep", "evaluate"):
        assert "usage: shallowdeep" in _run([shallowdeep, command, "--help"], env=variables).stdout
    listed = _run([shallowdeep, "list"], env=variables).stdout  # checking the presets needs no backend
    assert "raw-1" in listed and "407,050" in listed
    refused = _run([shallowdeep, "train", "raw-1"], env=variables, check=False)
    assert refused.returncode == 1, refused.stderr
    assert "no Keras backend is installed" in refused.stderr and 'shallowdeep[cpu]' in refused.stderr
    assert "Traceback" not in refused.stderr


def _digit_png(real_data_dir: Path, path: Path) -> Path:
    from shallowdeep.data import load_mnist

    _, (x_test, _) = load_mnist(real_data_dir, download=False, progress=False)
    Image.fromarray(np.asarray(x_test[0], dtype=np.uint8)).save(path)
    return path


def test_with_one_backend_extra_a_new_user_trains_predicts_evaluates_and_explores(
        dists, real_data_dir, tmp_path, start_process):
    shallowdeep, variables = _environment(tmp_path, dists["wheel"], "jax")
    runs = tmp_path / "runs"
    assert _run([shallowdeep, "--version"], env=variables).returncode == 0
    assert "raw-1" in _run([shallowdeep, "list"], env=variables).stdout
    _run([shallowdeep, "data", "--data-dir", real_data_dir, "--no-progress"], env=variables)

    _run([shallowdeep, "train", "raw-1", "--set", "dataset.train_limit=2000", "--set", "dataset.test_limit=200",
          "--set", "training.epochs=1", "--runs-dir", runs, "--data-dir", real_data_dir, "--no-progress"],
         env=variables)
    (run,) = (runs / "raw-1").iterdir()
    assert json.loads((run / "environment.json").read_text())["backend"] == "jax"

    predicted = _run([shallowdeep, "predict", "--json", run, _digit_png(real_data_dir, tmp_path / "digit.png")],
                     env=variables).stdout
    assert '"probabilities"' in predicted
    evaluated = _run([shallowdeep, "evaluate", "--json", run], env=variables).stdout
    assert '"accuracy"' in evaluated

    explorer = start_process([shallowdeep, "explore", run, "--port", "0", "--no-browser"], env=variables,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = re.search(r"http://127\.0\.0\.1:\d+/", explorer.stdout.readline())
    assert url, "explore did not print its address"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url.group(0) + "api/runs", timeout=5) as answer:
                assert answer.status == 200 and [entry["key"] for entry in json.load(answer)] == ["raw-1"]
                break
        except OSError:
            assert time.monotonic() < deadline and explorer.poll() is None, "explore never answered"
            time.sleep(0.5)
