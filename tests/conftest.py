"""Shared fixtures: the real data folder, an isolated cache, and a local HTTP server.

The suite runs on one pytest-xdist worker per core, at most 4 (``-n auto --dist loadfile`` in
pyproject.toml): what is costly to build (the cache, the quick labs, the tiny runs) is built once
for the whole session, by whichever worker asks first, and shared with the others
(:func:`_built_once`).
"""

from __future__ import annotations

import http.server
import json
import os
import pickle
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar



def _share_the_cores() -> None:
    """Each pytest-xdist worker computes on its share of the cores: two workers on two cores each
    letting TensorFlow, PyTorch (OpenMP) and XLA start a thread per core would run four busy threads
    on two cores (the suite took 270 s with one thread each, 283-305 s without, on the 2-core Zen 4). Before any
    backend is imported; the children the tests start inherit it; a value already set is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(name, threads)
    if "intra_op_parallelism_threads" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen=false " \
                                  f"intra_op_parallelism_threads={threads}".strip()


_share_the_cores()

import numpy as np  # noqa: E402  (after the threads are set)
import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402

from shallowdeep.data import find_chest_xray  # noqa: E402
from shallowdeep.paths import DATA_ENV, resolve_data_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _missing_real_data(what: str) -> None:
    """Skip for a user without the data; in CI (CI=true) a missing dataset is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must test on the real data: {what}")
    pytest.skip(what)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real datasets: $SHALLOWDEEP_DATA, else ../shared/data beside the repository, else the
    default data directory (where `shallowdeep data --download` puts them)."""
    shared = REPO.parent / "shared" / "data"
    candidate = resolve_data_dir(None if os.environ.get(DATA_ENV) or not shared.is_dir() else shared)
    if not (candidate / "mnist").is_dir() or not (candidate / "pneumoniamnist").is_dir():
        _missing_real_data(f"MNIST and PneumoniaMNIST not found in {candidate}; run "
                           f"`shallowdeep data --download` or set ${DATA_ENV}")
    return candidate


@pytest.fixture(scope="session")
def real_chest_xray(real_data_dir) -> Path:
    """The real chest X-ray folder inside the data directory (a manual download)."""
    root = find_chest_xray(real_data_dir)
    if root is None:
        _missing_real_data(f"no chest X-ray folder in {real_data_dir} (see `shallowdeep data`)")
    return root


#: What every finished run folder holds (binary tasks add roc.png; chest X-ray CNNs gradcam.npz).
RUN_FILES = {
    "config.toml", "environment.json", "history.csv", "metrics.json", "model.keras", "model.json",
    "weights.md", "weights.json", "history.png", "confusion.png", "state.json", "predictions.npz", "examples.npz",
}


def _check_run_folder(run, experiment, test_samples: int, epochs: int, extra: frozenset = frozenset()) -> None:
    files = {path.name for path in run.path.iterdir()}
    expected = RUN_FILES | ({"roc.png"} if experiment.binary else set()) \
        | ({"gradcam.npz"} if experiment.binary and experiment.features == "image" else set()) | extra
    assert files == expected, run.path
    assert run.path.parent.name == experiment.name and run.finished
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["test"]["samples"] == test_samples and metrics["epochs"] == epochs
    assert sum(sum(row) for row in metrics["test"]["confusion_matrix"]) == test_samples
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and np.isfinite(metrics["test"]["loss"])
    assert len(run.history) == epochs and run.history[0]["seconds"] > 0
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(run.history[0])
    assert run.predictions.test_probabilities.shape == (test_samples, len(experiment.class_names))


@pytest.fixture
def check_run_folder():
    """Asserts that a trained run's folder is complete: its files, metrics, history and predictions."""
    return _check_run_folder


T = TypeVar("T")


def _session_folder(tmp_path_factory) -> Path:
    """The session's temporary folder that every xdist worker sees (each worker has one of its own
    inside it); without xdist, the session's own."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _built_once(tmp_path_factory, name: str, build: Callable[[Path], T]) -> T:
    """``build(folder)`` run once per session under a file lock; every worker gets the same value
    (pickled beside the folder), the one that built it included."""
    root = _session_folder(tmp_path_factory)
    built = root / f"{name}.pickle"
    with FileLock(root / f"{name}.lock"):
        if not built.exists():
            built.write_bytes(pickle.dumps(build(root / name)))
        return pickle.loads(built.read_bytes())


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One derived-data cache for the session: decoded chest X-rays and HOG features are computed
    once. Entries are keyed by their inputs' content and written atomically, so sharing them
    between workers changes no result."""
    folder = _session_folder(tmp_path_factory) / "shared-cache"
    folder.mkdir(exist_ok=True)
    from shallowdeep.backend import keras

    if keras.backend.backend() == "jax":  # compiled programs too (shallowdeep.backend.use_compilation_cache)
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()
        compilation_cache.set_cache_dir(str(folder / "jax"))
    return folder


@pytest.fixture(autouse=True)
def isolated_environment(shared_cache, monkeypatch) -> None:
    """No mirror and no cache of the user's: the session's own cache only."""
    monkeypatch.setenv("SHALLOWDEEP_CACHE", str(shared_cache))
    monkeypatch.delenv("SHALLOWDEEP_MIRROR", raising=False)


@pytest.fixture
def empty_cache(tmp_path_factory, monkeypatch) -> Path:
    """An empty cache of the test's own, for tests that count what gets computed."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SHALLOWDEEP_CACHE", str(folder))
    return folder


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler], None]] = {}

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
        else:
            route(self)

    def log_message(self, *args):
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1 whose answers a test sets per path."""

    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"routes": {}})
        self.routes = handler.routes
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def serve_bytes(self, path: str, payload: bytes) -> str:
        def send(request):
            request.send_response(200)
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)

        self.routes[path] = send
        return self.url + path

    def serve_dropped(self, path: str, payload: bytes, after: int) -> str:
        """Announce the whole payload, send ``after`` bytes of it, then close the connection."""

        def send(request):
            request.send_response(200)
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload[:after])
            request.wfile.flush()
            request.close_connection = True
            request.connection.shutdown(2)

        self.routes[path] = send
        return self.url + path


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    server = LocalServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture(scope="session")
def tiny_runs(real_data_dir, real_chest_xray, shared_cache, tmp_path_factory) -> Path:
    """A folder of tiny finished runs (1 epoch on small slices of the real data), one of each kind:
    an MLP on pixels, an MLP on HOG and a CNN on MNIST, and the chest X-ray CNN at 64 x 64."""
    from shallowdeep.experiments import load_experiment
    from shallowdeep.training import train

    mnist = ["dataset.train_limit=600", "dataset.test_limit=200", "training.epochs=1"]
    xray = ["dataset.image_size=[64, 64]", "dataset.train_limit=200", "dataset.test_limit=60", "training.epochs=1"]

    def build(folder: Path) -> Path:
        with pytest.MonkeyPatch.context() as patch:  # session fixtures come before the autouse cache fixture
            patch.setenv("SHALLOWDEEP_CACHE", str(shared_cache))
            for name, overrides in (("raw-1", mnist), ("hog-1", mnist), ("cnn-1", mnist), ("xray-1", xray)):
                train(load_experiment(name, overrides), runs_dir=folder, data_dir=real_data_dir, progress=False)
        return folder

    return _built_once(tmp_path_factory, "tiny-runs", build)


def _quick_lab(suite: str, real_data_dir: Path, shared_cache: Path, tmp_path_factory):
    from shallowdeep.lab import run_lab

    def build(out: Path):
        with pytest.MonkeyPatch.context() as patch:  # session fixtures come before the autouse cache fixture
            patch.setenv("SHALLOWDEEP_CACHE", str(shared_cache))
            result = run_lab(suite, out, quick=True, data_dir=real_data_dir, progress=False,
                             command=f"shallowdeep lab --quick --suite {suite}")
        return out, result

    return _built_once(tmp_path_factory, f"lab-{suite}", build)


@pytest.fixture(scope="session")
def quick_seed_lab(real_data_dir, real_chest_xray, shared_cache, tmp_path_factory):
    """`shallowdeep lab --quick`: the reference report's ten experiments, trained once for every test
    that needs their runs or their report (report folder, LabResult)."""
    return _quick_lab("seed", real_data_dir, shared_cache, tmp_path_factory)


@pytest.fixture(scope="session")
def quick_best_lab(real_data_dir, real_chest_xray, shared_cache, tmp_path_factory):
    """`shallowdeep lab --quick --suite best`: the best suite's presets, trained once."""
    return _quick_lab("best", real_data_dir, shared_cache, tmp_path_factory)


#: The test files that take longest (20-120 s each with their fixtures on the 2-core AMD EPYC Zen 4), longest first.
#: Workers take whole files in collection order, so these start first and the short files fill in
#: behind them: a long file left for last keeps one worker busy while the other has nothing to do
#: (xdist's own order, by number of tests, put the distribution test and the notebooks last).
#: test_lab builds the quick labs that the explorer, report and adaptation tests share.
LONGEST_FIRST = (
    "test_lab.py", "test_distribution.py", "test_training.py", "sweeps/test_local.py", "test_notebooks.py",
    "sweeps/test_ray.py", "test_epochs.py", "test_adaptation.py", "test_backend.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    """Run :data:`LONGEST_FIRST` first, each file's tests kept together and in their order."""
    missing = [name for name in LONGEST_FIRST if not (Path(__file__).parent / name).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names no such file: {', '.join(missing)}")
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}

    def place(item) -> int:
        relative = Path(str(item.path)).relative_to(Path(__file__).parent).as_posix()
        return rank.get(relative, len(rank))

    items.sort(key=place)  # stable: every other file keeps its place


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one worker per core, at most 4. Each worker loads its own TensorFlow (about
    1 GB), and the longest test file (the quick labs) bounds the suite beyond that."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores))


def _default_signals() -> None:
    """In the child, before it runs: Ctrl-C as a terminal would deliver it. A pytest started in the
    background (``cmd &`` in a script, nohup) ignores SIGINT, and a child inherits that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def start_process() -> Iterator[Callable[..., subprocess.Popen]]:
    """``start_process(command, **popen_arguments)``: a child process with SIGINT at its default,
    killed with its whole process group when the test ends, passed or failed, if still running."""
    started: list[subprocess.Popen] = []

    def start(command: list[str], **arguments) -> subprocess.Popen:
        process = subprocess.Popen(command, preexec_fn=_default_signals, start_new_session=True, **arguments)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
