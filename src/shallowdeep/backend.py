"""The Keras backend, chosen among those installed and imported once, quietly; dtype policies; what a
run records about the machine.

shallowdeep depends on Keras alone and trains on whichever of TensorFlow, PyTorch and JAX is
installed (:func:`choose_backend`): ``KERAS_BACKEND`` when the user set it, else Keras' own
configured backend (``keras.json``, TensorFlow by default) when installed, else the first one
installed. The pip extras ``cpu``, ``gpu``, ``torch`` and ``jax`` install one.

TensorFlow's C++ runtime prints start-up notices (oneDNN, CPU features) straight to the process's
stderr while it loads, before any log level applies; they are hidden here unless
``SHALLOWDEEP_TF_LOGS=1``. ``TF_CPP_MIN_LOG_LEVEL`` set by the user wins, as does
``TF_ENABLE_ONEDNN_OPTS``, which is otherwise 1: TensorFlow computes through oneDNN on every CPU,
not only on those its own default picks.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shallowdeep.errors import ShallowDeepError
from shallowdeep.memory import limit_allocation_arenas

#: The Keras backends shallowdeep trains on, in the order it falls back on them, and the pip extra
#: that installs each (``cpu`` is TensorFlow's CPU build, ``gpu`` TensorFlow with CUDA).
BACKEND_EXTRAS = {"tensorflow": "cpu", "torch": "torch", "jax": "jax"}


class BackendError(ShallowDeepError):
    """No Keras backend shallowdeep can train on is installed, or the one asked for is not."""


def _install_command(extra: str) -> str:
    return f'pip install "shallowdeep[{extra}]" (in a clone of the repository: pip install -e ".[{extra}]")'


def choose_backend(asked: str | None, configured: str | None, installed: Collection[str]) -> str:
    """The Keras backend to load: ``asked`` (``KERAS_BACKEND``) if set; else ``configured`` (Keras'
    ``keras.json``; TensorFlow when there is none) if it is one shallowdeep trains on and is
    installed; else the first of TensorFlow, PyTorch, JAX that is ``installed``.

    Raises :class:`BackendError`, naming the command that installs one, when none can be used.
    """
    if asked:
        if asked not in BACKEND_EXTRAS:
            raise BackendError(f"KERAS_BACKEND={asked}: shallowdeep trains on {', '.join(BACKEND_EXTRAS)}; "
                               f"set KERAS_BACKEND to one of them, or unset it to use the one installed")
        if asked not in installed:
            others = [name for name in BACKEND_EXTRAS if name in installed]
            instead = f", or unset KERAS_BACKEND to use {others[0]}" if others else ""
            raise BackendError(f"KERAS_BACKEND={asked} but {asked} is not installed in this environment "
                               f"({sys.prefix}): {_install_command(BACKEND_EXTRAS[asked])}{instead}")
        return asked
    preferred = configured if configured in BACKEND_EXTRAS else "tensorflow"
    for name in (preferred, *BACKEND_EXTRAS):
        if name in installed:
            return name
    raise BackendError(f"no Keras backend is installed in this environment ({sys.prefix}): shallowdeep trains "
                       f"on TensorFlow, PyTorch or JAX. Install one, e.g. TensorFlow for the CPU: "
                       f"{_install_command('cpu')}; the extra \"gpu\" installs TensorFlow with CUDA, \"torch\" PyTorch, \"jax\" JAX")


def _installed_backends() -> set[str]:
    """The backends whose package can be found (found, not imported: importing TensorFlow takes seconds)."""
    found = set()
    for name in BACKEND_EXTRAS:
        try:
            if importlib.util.find_spec(name) is not None:
                found.add(name)
        except (ImportError, ValueError):
            continue
    return found


def _configured_backend() -> str | None:
    """The backend in Keras' configuration file, read where Keras reads it ($KERAS_HOME, else ~/.keras,
    else /tmp/.keras where the home folder is read-only)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    try:
        return json.loads(Path(home, "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None


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


def _import_keras(backend: str):
    """Keras on ``backend`` (set in ``KERAS_BACKEND`` first: Keras reads it once, on import)."""
    os.environ["KERAS_BACKEND"] = backend
    limit_allocation_arenas()  # before the backend starts its threads
    # Keras loads TensorFlow on the other backends too, where it is installed (set_random_seed).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        # TensorFlow runs its convolutions and matrix products through oneDNN by default only on CPUs
        # with AVX512_VNNI, AVX512_BF16 or AMX; elsewhere, an AVX2-only AMD Zen 3 say, through Eigen,
        # which trained the CNNs 1.7-3.1x slower on a 2-core AMD EPYC Zen 3 (benchmarks/onednn.py).
        # A user's own TF_ENABLE_ONEDNN_OPTS wins; a run records which it was (environment).
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if backend != "tensorflow":
        import keras

        return keras, None
    with _quiet_native_stderr():
        import keras
        import tensorflow  # its native start-up happens here, quietly
    # "triggered tf.function retracing" warnings come from predicting on arrays of several sizes,
    # which the lab does on purpose; they say nothing actionable to a user.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return keras, tensorflow


# Keras imported before shallowdeep has its backend already: that one is used, as it must be.
_BACKEND = choose_backend(sys.modules["keras"].backend.backend() if "keras" in sys.modules else
                          os.environ.get("KERAS_BACKEND"), _configured_backend(), _installed_backends())
try:
    keras, tensorflow = _import_keras(_BACKEND)
except ImportError as error:  # installed, yet broken (e.g. half of two TensorFlow builds uninstalled)
    raise BackendError(f"Keras could not load its {_BACKEND} backend ({error}); reinstall it: "
                       f"{_install_command(BACKEND_EXTRAS[_BACKEND])}") from None


#: The most JAX's compilation cache keeps; the programs used least recently go first.
COMPILATION_CACHE_BYTES = 2 * 2**30


def use_compilation_cache() -> None:
    """On JAX, keep every compiled program in JAX's own disk cache, in shallowdeep's cache folder
    (``<cache>/jax``), unless one is configured already (``JAX_COMPILATION_CACHE_DIR``).

    JAX compiles a function for the shapes it is called with, and again for the same function
    made anew: the run's steps after the probe's, a lab run again, every trial of a sweep. From
    the cache the run uses what its probe compiled (:func:`shallowdeep.estimates.probe` gives its
    steps the run's shapes) and a second lab what the first compiled. JAX keeps only programs
    that took a second or more to compile by default; here every one, each under a second on a CPU
    (raw-1's run on JAX: 14 programs in 2.6 s on a 2-core Xeon with AMX). The folder is the
    user's own: JAX runs what it finds there, so it must not be shared.
    """
    if _BACKEND != "jax":
        return
    import jax

    if jax.config.jax_compilation_cache_dir:
        return
    from shallowdeep.paths import resolve_cache_dir

    jax.config.update("jax_compilation_cache_dir", str(resolve_cache_dir() / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    if importlib.util.find_spec("filelock") is not None:  # JAX's eviction needs it (the extra "jax" installs it)
        jax.config.update("jax_compilation_cache_max_size", COMPILATION_CACHE_BYTES)


use_compilation_cache()


def set_random_seed(seed: int) -> None:
    """Keras' ``set_random_seed``: Python's, NumPy's and the backend's generators, and TensorFlow's
    where it is installed, which Keras imports for that on any backend: quietly, as above."""
    with _quiet_native_stderr():
        keras.utils.set_random_seed(seed)


def steps_per_call(requested: int) -> int:
    """Batches Keras runs per call into the backend (``steps_per_execution``): as asked, except on
    PyTorch, whose Keras trainer runs one batch per call."""
    return 1 if keras.backend.backend() == "torch" else requested


#: Keras dtype policy of each precision a run can train in.
DTYPE_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}

#: oneDNN's instruction-set levels in increasing order (``ONEDNN_MAX_CPU_ISA`` caps them); native
#: bfloat16 arithmetic starts at AVX512_CORE_BF16.
_ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
                "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX", "AVX512_CORE_AMX",
                "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX_FP16")
_NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Device:
    """What the precision depends on: a GPU and its CUDA compute capability, or the CPU's flags
    (``/proc/cpuinfo``) and a cap on oneDNN's instruction set (``ONEDNN_MAX_CPU_ISA``)."""

    kind: str  # "cpu" or "gpu"
    name: str
    cpu_flags: frozenset[str] = frozenset()
    compute_capability: tuple[int, int] | None = None
    isa_cap: str | None = None


@dataclass(frozen=True)
class Precision:
    """A resolved precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``, and why it was chosen."""

    name: str
    reason: str

    @property
    def policy(self) -> str:
        return DTYPE_POLICIES[self.name]


def choose_precision(device: Device) -> Precision:
    """The precision ``"auto"`` means on ``device``: mixed bfloat16 where the hardware computes it
    natively, mixed float16 (with loss scaling) on a GPU older than Ampere, else float32.

    - GPU, compute capability >= 8.0 (A100, RTX 30xx and later): bf16.
    - GPU below 8.0 (a T4, V100): fp16; Keras scales the loss so small gradients survive.
    - CPU with AMX or AVX512_BF16 (Intel Sapphire Rapids and later, AMD Zen 4 and later): bf16, unless
      ``ONEDNN_MAX_CPU_ISA`` caps oneDNN below AVX512_CORE_BF16.
    - Any other CPU (AVX2 only, e.g. AMD Zen 3; Arm): fp32. bf16 is emulated there and gains nothing.
    """
    if device.kind == "gpu":
        major, minor = device.compute_capability or (0, 0)
        if (major, minor) >= (8, 0):
            return Precision("bf16", f"{device.name} (compute capability {major}.{minor}) computes bfloat16 natively")
        return Precision("fp16", f"{device.name} (compute capability {major}.{minor}) has float16 but no "
                                 f"bfloat16 units; the loss is scaled")
    native = sorted(flag for flag in _NATIVE_BF16_FLAGS if flag in device.cpu_flags)
    if not native:
        return Precision("fp32", f"{device.name} has no native bfloat16 (no AMX or AVX512_BF16)")
    cap = (device.isa_cap or "").upper()
    if cap in _ONEDNN_ISAS and _ONEDNN_ISAS.index(cap) < _ONEDNN_ISAS.index("AVX512_CORE_BF16"):
        return Precision("fp32", f"ONEDNN_MAX_CPU_ISA={cap} keeps oneDNN from this CPU's bfloat16 units")
    return Precision("bf16", f"{device.name} computes bfloat16 natively ({', '.join(native).upper()})")


def _cpu_flags() -> frozenset[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _gpu() -> Device | None:
    """The first GPU the Keras backend sees, if any."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            gpus = tensorflow.config.list_physical_devices("GPU")
            if gpus:
                details = tensorflow.config.experimental.get_device_details(gpus[0])
                return Device("gpu", details.get("device_name", "GPU"),
                              compute_capability=tuple(details.get("compute_capability") or (0, 0)))
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return Device("gpu", torch.cuda.get_device_name(0),
                              compute_capability=tuple(torch.cuda.get_device_capability(0)))
        elif backend == "jax":
            import jax

            gpus = [device for device in jax.devices() if device.platform == "gpu"]
            if gpus:
                capability = getattr(gpus[0], "compute_capability", "0.0")
                return Device("gpu", gpus[0].device_kind,
                              compute_capability=tuple(int(part) for part in str(capability).split(".")[:2]))
    except (RuntimeError, ValueError):  # a GPU that cannot be queried is treated as absent
        return None
    return None


@functools.lru_cache(maxsize=1)
def current_device() -> Device:
    """The GPU Keras will use, else this machine's CPU."""
    return _gpu() or Device("cpu", cpu_name(), _cpu_flags(), isa_cap=os.environ.get("ONEDNN_MAX_CPU_ISA"))


def bfloat16_refused_here() -> bool:
    """True where TensorFlow would pick its oneDNN bfloat16 kernels by the CPU's flags and oneDNN
    would refuse to build them: a CPU with native bfloat16 under ``ONEDNN_MAX_CPU_ISA`` below
    AVX512_CORE_BF16 (how an AVX2-only CPU is emulated on a newer one)."""
    device = current_device()
    return (keras.backend.backend() == "tensorflow" and device.kind == "cpu"
            and any(flag in device.cpu_flags for flag in _NATIVE_BF16_FLAGS)
            and choose_precision(device).name == "fp32")


def resolve_precision(setting: str) -> Precision:
    """``training.precision`` as it will run here: ``"auto"`` chosen for :func:`current_device`,
    anything else as asked (refused where it would crash)."""
    device = current_device()
    if setting == "auto":
        return choose_precision(device)
    if setting == "bf16" and bfloat16_refused_here():
        # TensorFlow picks its oneDNN bfloat16 kernels by the CPU's flags, and oneDNN then
        # refuses to build them under the cap: training would end in an AbortedError.
        raise ShallowDeepError(
            f"precision bf16 cannot run with ONEDNN_MAX_CPU_ISA={device.isa_cap}: TensorFlow's bfloat16 "
            f"convolutions need oneDNN's AVX512_CORE_BF16 level on this CPU. Use precision \"auto\" or "
            f"\"fp32\" (--precision auto), or unset ONEDNN_MAX_CPU_ISA"
        )
    return Precision(setting, "asked for in the experiment")

#: The distribution that provides each Keras backend, for the versions a run records.
_BACKEND_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "torch": ("torch",), "jax": ("jax",)}


def _version(distributions: tuple[str, ...]) -> str | None:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


#: The instruction sets that set how fast a CPU trains, recorded beside its name, which does not
#: tell them apart (lscpu's "AMD EPYC" is a Zen 3 with AVX2 alone or a Zen 4 with AVX512_BF16).
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_features(flags: frozenset[str] | None = None) -> list[str]:
    """Which of :data:`SPEED_FLAGS` this CPU has (``/proc/cpuinfo``; ``flags`` instead where given)."""
    flags = _cpu_flags() if flags is None else flags
    return [flag for flag in SPEED_FLAGS if flag in flags]


def cpu_name() -> str:
    """The processor's model name as the OS reports it (``lscpu``'s "Model name")."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def tensorflow_uses_onednn() -> bool | None:
    """Whether TensorFlow runs its CPU operations through oneDNN (``TF_ENABLE_ONEDNN_OPTS`` as it
    read it on import, else its default for this CPU); ``None`` on the other backends."""
    if tensorflow is None:
        return None
    try:  # TensorFlow's own answer; no public API asks it
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def environment(precision: Precision) -> dict[str, Any]:
    """What a reader needs to reproduce a run: versions, backend, device, precision and why, CPU
    (its name, the instruction sets that set its speed, oneDNN's cap on them, whether TensorFlow
    computes through oneDNN)."""
    import numpy

    from shallowdeep.version import __version__

    backend = keras.backend.backend()
    device = current_device()
    return {
        "shallowdeep": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "keras": keras.__version__,
        "backend": backend,
        backend: _version(_BACKEND_DISTRIBUTIONS.get(backend, (backend,))),
        "precision": precision.name,
        "precision_reason": precision.reason,
        "device": device.name if device.kind == "gpu" else "cpu",
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_features": cpu_features(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "tensorflow_onednn": tensorflow_uses_onednn(),
        "cpu_count": os.cpu_count(),
    }


__all__ = ["BACKEND_EXTRAS", "BackendError", "DTYPE_POLICIES", "Device", "Precision", "choose_backend",
           "choose_precision", "cpu_features", "cpu_name", "current_device", "set_random_seed", "steps_per_call",
           "environment", "keras", "resolve_precision", "tensorflow_uses_onednn"]
