"""The Keras backend, imported once and quietly, and what a run records about the machine.

TensorFlow's C++ runtime prints start-up notices (oneDNN, CPU features) straight to the process's
stderr while it loads, before any log level applies; they are hidden here unless
``SHALLOWDEEP_TF_LOGS=1``. ``TF_CPP_MIN_LOG_LEVEL`` and ``KERAS_BACKEND`` set by the user win.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import platform
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def _quiet_native_stderr():
    if os.environ.get("SHALLOWDEEP_TF_LOGS") or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _quiet_native_stderr():
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow  # noqa: F401 (its native start-up happens here, quietly)

# "triggered tf.function retracing" warnings come from predicting on arrays of several sizes,
# which the lab does on purpose; they say nothing actionable to a user.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

#: Keras dtype policy of each ``training.precision``.
DTYPE_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}

#: The distribution that provides each Keras backend, for the versions a run records.
_BACKEND_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "torch": ("torch",), "jax": ("jax",)}


def _version(distributions: tuple[str, ...]) -> str | None:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def cpu_name() -> str:
    """The processor's model name as the OS reports it (``lscpu``'s "Model name")."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(precision: str) -> dict[str, Any]:
    """What a reader needs to reproduce a run: versions, backend, precision, CPU."""
    import numpy

    from shallowdeep.version import __version__

    backend = keras.backend.backend()
    return {
        "shallowdeep": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "keras": keras.__version__,
        "backend": backend,
        backend: _version(_BACKEND_DISTRIBUTIONS.get(backend, (backend,))),
        "precision": precision,
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
    }


__all__ = ["DTYPE_POLICIES", "cpu_name", "environment", "keras"]
