"""Sweeps on a real Ray cluster on this machine (a head and a worker node, token authentication on):
a client without the token is refused, and a worker node killed mid-sweep costs no trial.

Run by ``test_ray.py`` inside a network namespace that has only the loopback interface; not
collected on its own (its name does not start with ``test_``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import shallowdeep as sd
from shallowdeep.runs import Run
from shallowdeep.sweeps import TrialStatus

pytestmark = pytest.mark.slow  # starts a Ray cluster

_CONNECT = "from shallowdeep.sweeps.cluster import connect; connect({address!r}); print('connected')"


def test_a_client_without_the_cluster_s_token_is_refused(ray_cluster, tmp_path):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    # No ~/.ray/auth_token either; Ray retries a refused connection for 2 s instead of 20.
    environment.update(HOME=str(tmp_path), RAY_AUTH_MODE="token", RAY_gcs_server_port_wait_time_s="2")
    command = [sys.executable, "-c", _CONNECT.format(address=ray_cluster.address)]
    # Without a token, Ray refuses before connecting; with a wrong one, the cluster refuses it.
    # (The sweep test below connects with the cluster's token.)
    for token, why in ((None, "no authentication token was found"), ("0" * 32, "InvalidAuthToken")):
        if token:
            environment["RAY_AUTH_TOKEN"] = token
        client = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
        assert client.returncode != 0 and "connected" not in client.stdout
        assert f"cannot join the Ray cluster at {ray_cluster.address}" in client.stderr
        assert why in client.stderr, client.stderr


def test_a_sweep_on_ray_finishes_every_trial_once_when_a_worker_node_is_killed(ray_cluster, real_data_dir,
                                                                               tmp_path, monkeypatch):
    worker = ray_cluster.add_worker()
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", ray_cluster.token)
    killed = []

    def kill_the_worker_node_once_both_nodes_are_busy(progress):
        if not killed and progress.done >= 1 and progress.running == 2:  # one trial on each node's CPU
            ray_cluster.kill(worker)
            killed.append(progress.done)

    result = sd.sweep("raw", out=tmp_path / "sweep", address=ray_cluster.address, trials=3, quick=True,
                      train_limit=300, test_limit=100, progress=False,
                      on_progress=kill_the_worker_node_once_both_nodes_are_busy)
    assert killed and killed[0] < 3
    assert sorted(trial.number for trial in result.trials) == [0, 1, 2]
    assert all(trial.status is TrialStatus.COMPLETE for trial in result.trials)
    assert result.lost == 0  # Ray ran the lost task again elsewhere; the driver never had to
    folders = sorted((tmp_path / "sweep" / "runs" / "raw").iterdir())  # written by the driver, once each
    assert len(folders) == 3 and all(Run(folder).finished for folder in folders)
    assert sorted(run.path for run in result.runs()) == folders
    assert len((tmp_path / "sweep" / "results.csv").read_text().splitlines()) == 1 + 3
