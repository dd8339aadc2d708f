"""The Keras backend chosen among those installed, and the precision "auto" means on each kind of machine:
both pure functions, checked with descriptions of machines and environments."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shallowdeep.backend import (
    BackendError, Device, choose_backend, choose_precision, cpu_features, current_device, environment, keras,
    resolve_precision,
)
from shallowdeep.experiments import load_experiment
from shallowdeep.runs import describe_compiled_model
from shallowdeep.training import build_model, compile_model, targets

XEON_AMX = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})
ZEN3 = frozenset({"avx2", "fma"})


@pytest.mark.parametrize(("device", "expected"), [
    (Device("cpu", "Intel Xeon (Sapphire Rapids)", XEON_AMX), "bf16"),
    (Device("cpu", "AMD EPYC (Zen 4)", ZEN4), "bf16"),
    (Device("cpu", "AMD EPYC (Zen 3)", ZEN3), "fp32"),
    (Device("cpu", "Apple M2", frozenset()), "fp32"),
    (Device("cpu", "AMD EPYC (Zen 4)", ZEN4, isa_cap="AVX2"), "fp32"),
    (Device("cpu", "AMD EPYC (Zen 4)", ZEN4, isa_cap="avx512_core_bf16"), "bf16"),
    (Device("cpu", "Intel Xeon", XEON_AMX, isa_cap="AVX512_CORE_AMX"), "bf16"),
    (Device("gpu", "NVIDIA H100", compute_capability=(9, 0)), "bf16"),
    (Device("gpu", "NVIDIA A100", compute_capability=(8, 0)), "bf16"),
    (Device("gpu", "Tesla T4", compute_capability=(7, 5)), "fp16"),
])
def test_auto_picks_bfloat16_only_where_the_hardware_computes_it(device, expected):
    chosen = choose_precision(device)
    assert chosen.name == expected
    assert device.name in chosen.reason or "ONEDNN_MAX_CPU_ISA" in chosen.reason
    assert chosen.policy == {"bf16": "mixed_bfloat16", "fp16": "mixed_float16", "fp32": "float32"}[expected]


def test_a_run_records_the_precision_it_used_and_why():
    recorded = environment(resolve_precision("auto"))
    assert recorded["precision"] in ("bf16", "fp32", "fp16") and recorded["precision_reason"]
    assert recorded["cpu"] and recorded["device"] in ("cpu", current_device().name)
    assert environment(resolve_precision("fp32"))["precision_reason"] == "asked for in the experiment"


def test_a_run_records_the_instruction_sets_that_set_its_cpu_s_speed_beside_the_cpu_s_name(monkeypatch):
    # lscpu names a Zen 3 and a Zen 4 alike, "AMD EPYC": only their instruction sets tell them apart.
    assert cpu_features(ZEN4) == ["avx2", "avx512f", "avx512_bf16"]
    assert cpu_features(ZEN3) == ["avx2"] and cpu_features(frozenset()) == []
    assert environment(resolve_precision("fp32"))["cpu_features"] == cpu_features()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # how an AVX2-only CPU is emulated on a newer one
    assert environment(resolve_precision("fp32"))["onednn_max_cpu_isa"] == "AVX2"


@pytest.mark.slow  # a TensorFlow started in a subprocess: not again in the PyTorch rerun below
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed")
@pytest.mark.parametrize(("setting", "expected"), [(None, True), ("0", False)])
def test_tensorflow_computes_through_onednn_on_every_cpu_unless_the_user_says_otherwise(setting, expected):
    # TensorFlow's own default is oneDNN only on CPUs with AVX512_VNNI, AVX512_BF16 or AMX: an
    # AVX2-only CPU trains its CNNs through Eigen: 1.7-3.1x slower on a 2-core AMD EPYC Zen 3 (benchmarks/onednn.py).
    environment = {name: value for name, value in os.environ.items() if name != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        environment["TF_ENABLE_ONEDNN_OPTS"] = setting
    done = subprocess.run([sys.executable, "-c", "import json; from shallowdeep.backend import environment, "
                           "resolve_precision; print(json.dumps(environment(resolve_precision('fp32'))))"],
                          env={**environment, "KERAS_BACKEND": "tensorflow"}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1])["tensorflow_onednn"] is expected


@pytest.mark.parametrize(("asked", "configured", "installed", "expected"), [
    ("torch", None, {"tensorflow", "torch"}, "torch"),          # KERAS_BACKEND wins
    (None, "jax", {"tensorflow", "jax"}, "jax"),                # then Keras' own keras.json
    (None, None, {"tensorflow", "torch", "jax"}, "tensorflow"),  # Keras' default
    (None, "tensorflow", {"torch", "jax"}, "torch"),            # else the first one installed
    (None, "numpy", {"jax"}, "jax"),                            # a backend that cannot train is passed over
])
def test_the_backend_is_the_one_asked_for_else_keras_own_else_the_first_installed(asked, configured, installed,
                                                                                   expected):
    assert choose_backend(asked, configured, installed) == expected


@pytest.mark.parametrize(("asked", "installed", "says"), [
    (None, set(), 'no Keras backend is installed in this environment'),
    ("torch", {"tensorflow"}, 'KERAS_BACKEND=torch but torch is not installed'),
    ("numpy", {"tensorflow"}, "KERAS_BACKEND=numpy: shallowdeep trains on tensorflow, torch, jax"),
])
def test_a_missing_backend_is_refused_with_the_command_that_installs_one(asked, installed, says):
    with pytest.raises(BackendError) as refused:
        choose_backend(asked, None, installed)
    message = str(refused.value)
    assert says in message
    assert asked == "numpy" or 'pip install "shallowdeep[' in message


_WITHOUT_BACKENDS = """
import sys

class Uninstalled:
    '''TensorFlow, PyTorch and JAX as if they were not installed.'''
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "torch", "jax"):
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, Uninstalled())
import shallowdeep
print(shallowdeep.presets("seed")[0])  # what needs no backend still works
from shallowdeep.cli import main
sys.exit(main(["train", "raw-1", "--dry-run"]))
"""


def test_without_any_backend_the_command_names_what_to_install_in_one_line():
    environment = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", _WITHOUT_BACKENDS], capture_output=True, text=True, timeout=120,
                          env=environment)
    assert done.returncode == 1 and done.stdout.strip() == "raw-1"
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("shallowdeep: error: no Keras backend is installed")
    assert 'pip install "shallowdeep[cpu]"' in done.stderr


@pytest.mark.slow
@pytest.mark.every_backend
def test_float16_training_scales_the_loss_on_this_backend(tmp_path):
    experiment = load_experiment("cnn-3", ['training.precision="fp16"', "training.batch_size=8"])
    model = build_model(experiment)
    compile_model(model, experiment, train_samples=32)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    images = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
    history = model.fit(images, targets(np.arange(32) % 10, experiment, 10), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    described = describe_compiled_model(model)  # the report's Q1 reads the optimizer inside the wrapper
    assert described["optimizer"] == "RMSprop" and described["loss_scaling"] is True
    model.save(tmp_path / "fp16.keras")
    assert isinstance(keras.saving.load_model(tmp_path / "fp16.keras").optimizer, keras.optimizers.LossScaleOptimizer)


#: The tests that touch Keras: their fast ones, and the slow ones marked every_backend (training,
#: resuming, predicting, the Python API, float16), are run again on a second backend.
KERAS_TESTS = ["tests/test_backend.py", "tests/models", "tests/test_runs.py", "tests/test_evaluation.py",
               "tests/test_cli.py", "tests/test_api.py", "tests/test_training.py"]


@pytest.mark.slow
def test_the_tests_that_touch_keras_pass_on_pytorch_too(tmp_path):
    if importlib.util.find_spec("torch") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the suite on a second backend: .ci/run installs torch==2.13.0")
        pytest.skip("PyTorch is not installed (pip install torch==2.13.0 installs its CPU build here)")
    repository = Path(__file__).resolve().parents[1]
    alone = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_XDIST")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "--basetemp",
                           str(tmp_path / "pytest"), "-m", "not slow or every_backend", *KERAS_TESTS],
                          cwd=repository, env={**alone, "KERAS_BACKEND": "torch"}, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1] and "skipped" not in done.stdout.splitlines()[-1]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
@pytest.mark.parametrize("configured", [None, "own-jax-cache"])
def test_on_jax_compiled_programs_are_kept_in_the_cache_folder_unless_the_user_keeps_them_elsewhere(
        configured, tmp_path):
    environment = {name: value for name, value in os.environ.items() if not name.startswith("JAX_COMPILATION")}
    environment.update(KERAS_BACKEND="jax", SHALLOWDEEP_CACHE=str(tmp_path / "cache"))
    if configured:
        environment["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path / configured)
    shown = ("import jax, shallowdeep.backend; "
             "print(jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)")
    done = subprocess.run([sys.executable, "-c", shown],
                          capture_output=True, text=True, timeout=300, env=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    folder, min_seconds = done.stdout.split()
    if configured:
        assert (folder, float(min_seconds)) == (str(tmp_path / configured), 1.0)  # JAX's own defaults
    else:
        assert (folder, float(min_seconds)) == (str(tmp_path / "cache" / "jax"), 0.0)
