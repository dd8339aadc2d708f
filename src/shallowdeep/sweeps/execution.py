"""Running trials: the work one trial is, and the pool of processes on this machine that does it.

A trial trains its point once per seed through :func:`shallowdeep.training.train` (ordinary run
folders, a checkpoint per epoch) and returns a :class:`TrialOutcome`. It runs in a process of its
own, never beside another trial in the same process, with the backend's thread pools sized by
:func:`limit_threads` so that ``workers x threads`` is the number of cores: two trials on two cores
of one thread each keep both cores busy without fighting for them (oversubscribed, TensorFlow's
thread pools spin and switch more than they compute).

:class:`LocalPool` keeps N such processes (spawned, so nothing of the driver's state leaks in) and
reports each trial's outcome, or that its process died (killed, out of memory): the driver then
sends the trial again, and it resumes from its last completed epoch. Workers die with the driver.

On a Ray cluster (:mod:`shallowdeep.sweeps.cluster`) the same :func:`run_trial` runs as a task, in a
temporary folder on the node; its run folders travel back packed (:func:`pack_run`, :func:`receive_run`).
"""

from __future__ import annotations

import enum
import gc
import io
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

from shallowdeep.experiments import Experiment
from shallowdeep.memory import collecting_new_objects_only
from shallowdeep.runs import Run, RunError
from shallowdeep.sweeps.results import RunSummary, TrialStatus
from shallowdeep.sweeps.search import MONITORED, PruningPlan

RUNS = "runs"
#: Environment variables that size the thread pools of TensorFlow, oneDNN/OpenMP and BLAS.
_THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "OPENBLAS_NUM_THREADS")


def limit_threads(threads: int) -> None:
    """Size the backend's thread pools to ``threads``: environment variables that TensorFlow,
    oneDNN and BLAS read when they load, and, if the backend is loaded already, its own settings
    (TensorFlow accepts them only before its first operation; after that they stay as they were)."""
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    if "tensorflow" in sys.modules:
        import tensorflow

        try:
            tensorflow.config.threading.set_intra_op_parallelism_threads(threads)
            tensorflow.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # already running: keeps the pools it has
            pass
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)


@dataclass(frozen=True)
class TrialTask:
    """One trial to run: its experiments (one per seed) and where its run folders go.

    ``folder`` is the sweep folder when the worker shares its file system (run folders are written
    straight into ``folder/runs``, and an interrupted one is resumed); None on a cluster node,
    where the trial trains in a temporary folder and sends its runs back packed.
    """

    number: int
    experiments: tuple[Experiment, ...]
    metric: str
    threads: int  # 0: leave the process's thread settings as they are
    folder: str | None = None
    data_dir: str | None = None
    pruning: PruningPlan | None = None

    @property
    def digests(self) -> set[str]:
        return {experiment.digest() for experiment in self.experiments}


@dataclass
class TrialOutcome:
    """What a trial left: its runs, the first seed's validation curve, or why it failed."""

    number: int
    status: TrialStatus
    runs: list[RunSummary] = field(default_factory=list)
    curve: dict[int, float] = field(default_factory=dict)
    error: str = ""
    details: str = ""  # the traceback of a failure
    node: str = "local"
    seconds: float = 0.0
    archives: dict[str, bytes] = field(default_factory=dict)  # run path -> packed run, from a temporary folder


class _Pruned(Exception):
    """Raised after an epoch's checkpoint when the median rule judges the trial hopeless."""


def _pruning_callback(plan: PruningPlan):
    """A Keras callback that ends training after an epoch the plan's rule judges hopeless."""
    from shallowdeep.backend import keras
    from shallowdeep.sweeps.search import PruningJudge

    class PruneHopeless(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.judge = PruningJudge(plan)

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(plan.monitor)
            if value is not None and self.judge.should_stop(epoch + 1, float(value)):
                raise _Pruned(epoch + 1)

    return PruneHopeless()


def validation_curve(run: Run, metric: str) -> dict[int, float]:
    """Epoch -> the validation value Keras logged for ``metric`` (accuracy or loss; else empty)."""
    monitor = MONITORED.get(metric)
    return {int(row["epoch"]): float(row[monitor]) for row in run.history if monitor and monitor in row}


def _release_memory() -> None:
    if "keras" in sys.modules:
        from shallowdeep.backend import keras

        keras.backend.clear_session()
    gc.collect()


def _train_seeds(task: TrialTask, folder: Path, outcome: TrialOutcome) -> None:
    from shallowdeep.training import train

    runs_dir = folder / RUNS
    for index, experiment in enumerate(task.experiments):
        judged = task.pruning is not None and index == 0
        # A trial sent again after its worker died may find the run that worker finished just before.
        run = Run.find_finished(runs_dir, experiment)
        try:
            if run is None:
                run = train(experiment, runs_dir=runs_dir, data_dir=task.data_dir, resume=True, progress=False,
                            callbacks=[_pruning_callback(task.pruning)] if judged else ())
        except _Pruned:
            partial = Run.find_interrupted(runs_dir, experiment)
            outcome.status = TrialStatus.PRUNED
            outcome.curve = validation_curve(partial, task.metric)
            outcome.runs.append(RunSummary(partial.path.relative_to(folder).as_posix(), None, {}, None, None,
                                           partial.epochs_done))
            return
        finally:
            _release_memory()
        if index == 0:
            outcome.curve = validation_curve(run, task.metric)
        outcome.runs.append(RunSummary.of(run, task.metric, folder))


@collecting_new_objects_only()
def run_trial(task: TrialTask) -> TrialOutcome:
    """Train ``task``'s experiments one after the other; never raises (a failure is the outcome)."""
    if task.threads:
        limit_threads(task.threads)
    started = time.perf_counter()
    temporary = task.folder is None
    folder = Path(tempfile.mkdtemp(prefix="shallowdeep-trial-")) if temporary else Path(task.folder)
    outcome = TrialOutcome(task.number, TrialStatus.COMPLETE)
    try:
        _train_seeds(task, folder, outcome)
    except Exception as error:  # the trial's failure is its outcome; the sweep goes on
        outcome.status = TrialStatus.FAILED
        outcome.error = f"{type(error).__name__}: {error}".strip()
        outcome.details = traceback.format_exc()
    finally:
        outcome.seconds = time.perf_counter() - started
        if temporary:
            outcome.archives = {run.path: pack_run(Run(folder / run.path)) for run in outcome.runs}
            shutil.rmtree(folder, ignore_errors=True)
    return outcome


def unpack(outcome: TrialOutcome, folder: Path) -> None:
    """Write the runs a cluster node sent back into ``folder/runs`` (:func:`receive_run`), and point
    the outcome's run paths at them."""
    for summary in outcome.runs:
        if summary.path in outcome.archives:
            run = receive_run(outcome.archives[summary.path], folder / RUNS)
            summary.path = run.path.relative_to(folder).as_posix()
    outcome.archives = {}


def pack_run(run: Run) -> bytes:
    """The whole run folder as a gzip'd tar (``<experiment>/<folder>/...``), to send back from a node."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(run.path, arcname=f"{run.path.parent.name}/{run.path.name}")
    return buffer.getvalue()


def receive_run(data: bytes, runs_dir: str | os.PathLike) -> Run:
    """A run packed by :func:`pack_run` (on another machine), written into ``runs_dir`` under its own
    name, or a new one where a folder of that name exists; the run.

    The archive is untrusted: only regular files and folders are taken, all inside one run folder
    (tarfile's ``data`` filter refuses absolute paths, ``..``, links and devices), and the folder
    appears in one rename once complete."""
    if not hasattr(tarfile, "data_filter"):  # Python < 3.10.12
        raise RunError("receiving a run folder safely needs Python 3.10.12 or later (tarfile's data filter)")
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=runs_dir))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(staging, filter="data")
        folders = [path for path in staging.glob("*/*") if path.is_dir()]
        if len(folders) != 1 or len(list(staging.iterdir())) != 1 or not (folders[0] / "config.toml").is_file():
            raise RunError("the archive received is not one packed run folder (pack_run makes them)")
        target = runs_dir / folders[0].relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        name, suffix = target.name, 1
        while target.exists():
            suffix += 1
            target = target.with_name(f"{name}-{suffix}")
        os.replace(folders[0], target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Run(target)


# -- the local pool ----------------------------------------------------------------------------------

class EventKind(enum.Enum):
    FINISHED = "finished"  # the trial ran; its outcome says how it ended
    LOST = "lost"  # the process running it died: send the trial again


@dataclass
class PoolEvent:
    kind: EventKind
    task: TrialTask
    outcome: TrialOutcome | None = None
    reason: str = ""


def _follow_parent() -> None:
    """End this worker when the driver ends, even by ``kill -9``: at once on Linux (the kernel
    sends SIGKILL), within a second elsewhere (the parent process changes)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _serve(connection, threads: int, log_path: str) -> None:
    """A worker process: log to a file, size the thread pools, then run trials until told to stop."""
    _follow_parent()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    limit_threads(threads)
    import shallowdeep.training  # noqa: F401 (the backend loads now, while the driver prepares the trials)

    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        connection.send(run_trial(task))


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by signal {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


class _Worker:
    def __init__(self, context, index: int, threads: int, log_folder: Path):
        self.index = index
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, name=f"shallowdeep-sweep-worker-{index}",
                                       args=(child, threads, str(log_folder / f"worker-{index}.log")), daemon=True)
        self.process.start()
        child.close()
        self.task: TrialTask | None = None


class InlinePool:
    """Trials run in this very process, one at a time: no start-up cost and no isolation (a
    notebook, a debugger, the tests of the shipped sweeps). The threads are the process's own."""

    where = "this process (no worker processes)"

    def __init__(self) -> None:
        self._task: TrialTask | None = None

    def capacity(self) -> int:
        return 1

    def submit(self, task: TrialTask) -> None:
        self._task = task

    def poll(self, timeout: float) -> list[PoolEvent]:
        task, self._task = self._task, None
        return [PoolEvent(EventKind.FINISHED, task, _run_here(task))] if task is not None else []

    def close(self) -> None:
        return None


def _run_here(task: TrialTask) -> TrialOutcome:
    """:func:`run_trial` without touching this process's thread settings."""
    return run_trial(replace(task, threads=0))


class LocalPool:
    """``workers`` processes on this machine, each training one trial at a time on ``threads`` threads."""

    def __init__(self, workers: int, threads: int, log_folder: Path):
        self.threads = threads
        self.log_folder = log_folder
        log_folder.mkdir(parents=True, exist_ok=True)
        self._context = multiprocessing.get_context("spawn")
        self._started = 0
        # All start now: each loads the backend while the driver prepares the first trials.
        self._workers = [self._start() for _ in range(workers)]

    def _start(self) -> _Worker:
        self._started += 1
        return _Worker(self._context, self._started, self.threads, self.log_folder)

    @property
    def where(self) -> str:
        return f"{len(self._workers)} local worker process(es) of {self.threads} thread(s)"

    def capacity(self) -> int:
        return len(self._workers)

    def pids(self) -> dict[int, int]:
        """The process of each running trial: trial number -> pid."""
        return {worker.task.number: worker.process.pid for worker in self._workers if worker.task is not None}

    def submit(self, task: TrialTask) -> None:
        index = next(i for i, worker in enumerate(self._workers) if worker.task is None)
        if not self._workers[index].process.is_alive():
            self._workers[index] = self._start()
        worker = self._workers[index]
        worker.task = task
        worker.connection.send(task)

    def poll(self, timeout: float) -> list[PoolEvent]:
        """What happened within ``timeout`` seconds: trials finished, processes that died."""
        watched = {}
        for worker in self._workers:
            watched[worker.process.sentinel] = worker
            if worker.task is not None:
                watched[worker.connection] = worker
        events: list[PoolEvent] = []
        seen: set[int] = set()
        for ready in multiprocessing.connection.wait(list(watched), timeout):
            worker = watched[ready]
            if worker.index in seen:
                continue
            seen.add(worker.index)
            if worker.task is not None and worker.connection.poll():
                try:
                    outcome = worker.connection.recv()
                except (EOFError, OSError):
                    outcome = None
                if outcome is not None:
                    events.append(PoolEvent(EventKind.FINISHED, worker.task, outcome))
                    worker.task = None
                    continue
            if not worker.process.is_alive():
                worker.process.join()
                if worker.task is not None:
                    reason = f"worker process {worker.process.pid} died ({_death(worker.process.exitcode)})"
                    events.append(PoolEvent(EventKind.LOST, worker.task, reason=reason))
                    worker.task = None
                self._workers[self._workers.index(worker)] = self._start()
        return events

    def close(self) -> None:
        """Stop the workers: idle ones are asked to, busy ones (an interrupted sweep) are ended."""
        for worker in self._workers:
            if worker.task is None and worker.process.is_alive():
                try:
                    worker.connection.send(None)
                except OSError:
                    pass
        for worker in self._workers:
            worker.process.join(timeout=5 if worker.task is None else 0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
