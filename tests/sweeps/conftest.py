"""A real Ray cluster on this machine for the sweep tests: a head and one worker node, each a
`ray start --block` in a process group of its own (so a test can kill a node as a machine dies),
token authentication on, usage statistics and dashboard off.

Ray 2.60 replaces a loopback ``--node-ip-address`` by the machine's routable address and its GCS and
raylets listen on every interface. So the cluster's tests (``ray_cases.py``) run in a network
namespace of their own that has only the loopback interface (``test_ray.py`` starts them there with
``unshare --net``): every address Ray can find is 127.0.0.1, and no packet leaves loopback. The token
is on all the same, and the cluster lives only as long as those tests."""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

RAY = Path(sys.executable).with_name("ray")


def ray_or_skip() -> None:
    """Ray is an optional extra: skipped where it is not installed, except in CI."""
    if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its settings on import
        if os.environ.get("CI"):
            pytest.fail("CI must run the Ray tests: install the extra, pip install -e '.[ray]'")
        pytest.skip("Ray is not installed (pip install -e '.[ray]')")


class LocalRayCluster:
    """``ray start`` processes on 127.0.0.1 (Ray 2.60 advertises the machine's own address instead)."""

    def __init__(self, folder: Path, data_dir: Path, cache_dir: Path):
        self.folder = folder
        self.token = secrets.token_hex(16)
        self.environment = {
            **os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token, "RAY_USAGE_STATS_ENABLED": "0",
            "SHALLOWDEEP_DATA": str(data_dir), "SHALLOWDEEP_CACHE": str(cache_dir),
            # Trials train in temporary folders: a killed node leaves its own behind, here.
            "TMPDIR": str(folder / "tmp"),
            # A node that stops answering is declared dead after about 2 s instead of 15 s.
            "RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "4",
        }
        self.nodes: list[subprocess.Popen] = []
        self.address = ""
        (folder / "tmp").mkdir()

    def _start(self, name: str, arguments: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        process = subprocess.Popen(
            [str(RAY), "start", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=100000000",
             "--disable-usage-stats", "--block", *arguments],
            env=self.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.nodes.append(process)
        return process

    def _wait_for(self, name: str, pattern: str, timeout: float = 120) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, (self.folder / f"{name}.log").read_text())
            if found:
                return found
            if any(node.poll() is not None for node in self.nodes):
                break
            time.sleep(0.2)
        raise RuntimeError(f"ray {name} did not start:\n{(self.folder / f'{name}.log').read_text()[-3000:]}")

    def start_head(self) -> None:
        self._start("head", ["--head", "--port=0", "--include-dashboard=false", f"--temp-dir={self.folder / 'ray'}"])
        self.address = self._wait_for("head", r"ray start --address='([^']+)'").group(1)

    def add_worker(self) -> subprocess.Popen:
        node = self._start("worker", [f"--address={self.address}"])
        self._wait_for("worker", r"Ray runtime started")
        return node

    def kill(self, node: subprocess.Popen) -> None:
        """SIGKILL a node's whole process group, as if its machine had died."""
        os.killpg(node.pid, signal.SIGKILL)
        node.wait()

    def stop(self) -> None:
        """Kill every node still up (a graceful stop drains for up to 30 s); their Ray worker
        processes, in sessions of their own, exit when their node's raylet is gone."""
        for node in self.nodes:
            if node.poll() is None:
                self.kill(node)


@pytest.fixture(scope="module")
def ray_cluster(real_data_dir, shared_cache) -> Iterator[LocalRayCluster]:
    ray_or_skip()
    # Short: Ray's unix sockets live under it, and their paths may not exceed 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="sdray-"))
    cluster = LocalRayCluster(folder, real_data_dir, shared_cache)
    try:
        cluster.start_head()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
