"""The Ray cluster's tests, run where Ray can find no address but 127.0.0.1: a network namespace of
their own with only the loopback interface (Ray 2.60 would otherwise advertise, and listen on, the
machine's routable address)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ray_or_skip

pytestmark = pytest.mark.slow  # starts a Ray cluster

CASES = Path(__file__).with_name("ray_cases.py")


def _private_network_or_skip() -> None:
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True) \
        if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        why = "unshare --net is not available here (it needs root or user namespaces)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Ray tests on a private loopback network: {why}")
        pytest.skip(why)


def test_the_ray_cluster_s_tests_pass_on_a_private_loopback_network(real_data_dir):
    ray_or_skip()
    _private_network_or_skip()
    script = (f"ip link set lo up && ! ip -o address | grep -v ' lo ' && "
              f"exec {sys.executable} -m pytest {CASES} -p no:cacheprovider -q -x")
    done = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True,
                          env={**os.environ, "SHALLOWDEEP_DATA": str(real_data_dir)}, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith("2 passed"), done.stdout[-2000:]
