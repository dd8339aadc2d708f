"""Trials as tasks on an existing Ray cluster (``shallowdeep sweep --address HOST:PORT``).

Plain Ray tasks rather than Ray Tune: Optuna already chooses the points and keeps the study (in the
driver's journal, resumable after ``kill -9``), and every trial is already an ordinary run folder;
Tune would add a second trial bookkeeping, with its own results folders and its own resume, to
keep in step with them. A task is what a trial needs from a cluster: ``threads`` CPUs reserved on
some node, the trial run there in a temporary folder (:func:`~shallowdeep.sweeps.execution.run_trial`)
and its run folders sent back to the driver, which writes them into the sweep folder. When a node
dies mid-trial Ray runs the task again on another node (``max_retries``), so every trial finishes
exactly once in the driver's table.

Safe by default: shallowdeep joins a cluster only with Ray's token authentication
(``RAY_AUTH_MODE=token``; the token from ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
``~/.ray/auth_token``), and never starts a cluster of its own. Each node reads the datasets from
its own data directory (``SHALLOWDEEP_DATA`` in the environment of ``ray start``, or downloads).
"""

from __future__ import annotations

import logging
import os
import re
import sys

from shallowdeep.sweeps.execution import EventKind, PoolEvent, TrialOutcome, TrialTask, run_trial
from shallowdeep.sweeps.results import SweepError, TrialStatus

#: Ray runs a task again this many times when its worker or node dies.
RETRIES = 3
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def _import_ray():
    try:
        import ray
    except ImportError:
        raise SweepError("--address needs Ray: pip install -e \".[ray]\" (or pip install \"shallowdeep[ray]\"), "
                         "the same version on every node of the cluster") from None
    return ray


def connect(address: str) -> None:
    """Join the Ray cluster whose head listens at ``address`` (``HOST:PORT``), with token authentication."""
    if not _ADDRESS.match(address):
        raise SweepError(f"--address {address!r}: expected HOST:PORT of the cluster's head node, e.g. 10.0.0.5:6379")
    mode = os.environ.get("RAY_AUTH_MODE", "token")
    if mode.lower() != "token":
        raise SweepError(f"RAY_AUTH_MODE={mode}: shallowdeep joins Ray clusters only with token authentication. "
                         f"Start the cluster with RAY_AUTH_MODE=token and set RAY_AUTH_MODE=token here")
    imported_before = "ray" in sys.modules
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = _import_ray()
    if ray.is_initialized():
        return
    if imported_before:
        # Ray reads RAY_AUTH_MODE when it is imported and caches the token when first asked: if it
        # was imported before (a notebook), refresh both, as Ray itself does when it turns auth on.
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, ray.exceptions.AuthenticationError, RuntimeError) as error:
        raise SweepError(
            f"cannot join the Ray cluster at {address} ({error}): nothing listens there, or the cluster refused "
            f"this client's token (Ray's log above then says InvalidAuthToken). Give this process the cluster's "
            f"token: RAY_AUTH_TOKEN=... or RAY_AUTH_TOKEN_PATH=FILE (`ray get-auth-token` on the head node prints it)"
        ) from None


def _run_on_node(task: TrialTask) -> TrialOutcome:
    """A trial as a Ray task: run where Ray placed it; the outcome says which node that was."""
    import ray

    outcome = run_trial(task)
    outcome.node = ray.get_runtime_context().get_node_id()[:12]
    return outcome


class RayPool:
    """Trials as Ray tasks of ``threads`` CPUs each, as many at a time as the cluster has CPUs for."""

    def __init__(self, address: str, threads: int):
        if threads < 1:
            raise SweepError(f"--threads {threads}: a Ray task needs at least 1 CPU")
        ray = _import_ray()
        self._owns_connection = not ray.is_initialized()
        connect(address)
        self._ray = ray
        self.threads = threads
        self.address = address
        self._remote = ray.remote(_run_on_node).options(num_cpus=threads, max_retries=RETRIES, retry_exceptions=False)
        self._running: dict = {}  # object ref -> task

    @property
    def where(self) -> str:
        return f"the Ray cluster at {self.address} ({self.capacity()} trial(s) at a time, {self.threads} CPU(s) each)"

    def capacity(self) -> int:
        """Trials the cluster's CPUs hold at once now (nodes join and leave)."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 0)) // self.threads)

    def submit(self, task: TrialTask) -> None:
        self._running[self._remote.remote(task)] = task

    def poll(self, timeout: float) -> list[PoolEvent]:
        if not self._running:
            return []
        ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=timeout)
        events = []
        for reference in ready:
            task = self._running.pop(reference)
            try:
                events.append(PoolEvent(EventKind.FINISHED, task, self._ray.get(reference)))
            except self._ray.exceptions.RayTaskError as error:  # raised in our code: the trial failed
                events.append(PoolEvent(EventKind.FINISHED, task, TrialOutcome(
                    task.number, TrialStatus.FAILED, error=str(error).splitlines()[-1])))
            except self._ray.exceptions.RayError as error:  # worker or node lost after Ray's own retries
                events.append(PoolEvent(EventKind.LOST, task, reason=f"Ray lost it ({type(error).__name__})"))
        return events

    def close(self) -> None:
        for reference in self._running:
            self._ray.cancel(reference, force=True)
        self._running.clear()
        if self._owns_connection:
            self._ray.shutdown()
