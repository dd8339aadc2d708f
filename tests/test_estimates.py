"""Time forecasts: split sizes known without the data, a probe that measures this machine, a clock
that corrects the forecast with what is done."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

from shallowdeep import backend, estimates, lab
from shallowdeep.estimates import Progress, minutes, probe, remember, remembered, split_sizes
from shallowdeep.experiments import load_experiment


@pytest.mark.parametrize(("name", "settings", "sizes"), [
    ("raw-1", {}, (54_000, 6_000, 10_000)),
    ("raw-1", {"train_limit": 2_000, "test_limit": 1_000}, (1_800, 200, 1_000)),
    ("pneumoniamnist-best", {}, (4_708, 524, 624)),
    ("xray-1", {}, (4_694, 522, 624)),
])
def test_the_splits_are_counted_from_the_dataset_s_known_sizes(name, settings, sizes):
    assert split_sizes(load_experiment(name, **settings)) == sizes


@pytest.mark.slow
def test_a_probe_measures_the_experiment_s_own_model_without_loading_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SHALLOWDEEP_DATA", str(tmp_path / "no-data"))  # a dataset load would fail
    estimate = probe(load_experiment("hog-3", epochs=3))
    assert estimate.epochs == 3 and estimate.seconds_per_epoch > 0 and estimate.once_seconds > 0
    assert estimate.seconds == pytest.approx(3 * estimate.seconds_per_epoch + estimate.once_seconds)


_RUN_AFTER_PROBE = textwrap.dedent("""
    import functools, sys
    from jax import monitoring
    import shallowdeep as sd
    from shallowdeep import epochs, estimates, training

    if sys.argv[1] == "loop":  # as on a GPU: a fori_loop over the batches of each call
        epochs._JaxRunner.__init__ = functools.partialmethod(epochs._JaxRunner.__init__, loop_on_device=True)
    events = []
    monitoring.register_event_listener(lambda event, **_: events.append(event))
    experiment = sd.experiment("raw-1").with_overrides(
        {"dataset.train_limit": 1500, "dataset.test_limit": 300, "training.epochs": 1})
    estimates.probe(experiment)
    events.clear()
    training.train(experiment, runs_dir="runs", progress=False)
    print("hits", events.count("/jax/compilation_cache/cache_hits"))
""")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
@pytest.mark.parametrize("calls", ["step", "loop"])
def test_on_jax_the_run_finds_its_steps_compiled_by_the_probe(calls, tmp_path):
    """The probe compiles the run's training and validation programs, full and smaller last
    batches (1,350 examples in batches of 128; 150 to validate): four programs the run reads from
    JAX's compilation cache instead of compiling them again, whether a call is one step (on a CPU)
    or a loop over several batches (on a GPU)."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_XDIST")}
    done = subprocess.run([sys.executable, "-c", _RUN_AFTER_PROBE, calls], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={**environment, "KERAS_BACKEND": "jax",
                                                       "SHALLOWDEEP_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split("hits")[-1]) >= 4
    assert any((tmp_path / "cache" / "jax").iterdir())


def test_a_run_s_timings_forecast_the_same_experiment_on_the_same_machine_and_versions(empty_cache, monkeypatch):
    experiment = load_experiment("raw-1", epochs=4)
    assert remembered(experiment) is None
    remember(experiment, [3.0, 1.0, 1.2, 0.9], seconds=10.0)  # the first epoch traced the model
    estimate = remembered(experiment)
    assert (estimate.seconds_per_epoch, estimate.once_seconds) == (pytest.approx(1.1), pytest.approx(5.6))
    assert remembered(load_experiment("raw-1", epochs=8)).seconds == pytest.approx(8 * 1.1 + 5.6)
    assert remembered(load_experiment("raw-2", epochs=4)) is None
    machine = estimates.environment
    monkeypatch.setattr(estimates, "environment", lambda precision: {**machine(precision), "keras": "99.0"})
    assert remembered(experiment) is None  # another version computes at another speed


def test_timings_are_not_shared_by_cpus_of_one_name_with_other_instruction_sets(empty_cache, monkeypatch):
    experiment = load_experiment("raw-1", epochs=4)
    remember(experiment, [1.0, 1.0], seconds=3.0)
    assert remembered(experiment) is not None
    other = frozenset() if backend.cpu_features() else frozenset({"avx2"})
    monkeypatch.setattr(backend, "_cpu_flags", lambda: other)  # the same "AMD EPYC", another generation
    assert remembered(experiment) is None


def test_timings_taken_with_tensorflow_s_onednn_operations_off_do_not_forecast_them_on(empty_cache, monkeypatch):
    # TensorFlow trained the CNNs 1.7-3.1x slower through Eigen than through oneDNN on a 2-core AMD EPYC Zen 3.
    experiment = load_experiment("raw-1", epochs=4)
    remember(experiment, [1.0, 1.0], seconds=3.0)
    assert remembered(experiment) is not None
    other = not backend.tensorflow_uses_onednn()  # on another backend (None): "TensorFlow's" setting differs
    monkeypatch.setattr(backend, "tensorflow_uses_onednn", lambda: other)
    assert remembered(experiment) is None


def test_the_lab_forecasts_from_earlier_runs_without_a_probe(empty_cache, tmp_path, monkeypatch, capsys):
    experiments = [load_experiment("raw-1", epochs=10), load_experiment("hog-1", epochs=10)]
    for experiment in experiments:
        remember(experiment, [2.0] * 10, seconds=25.0)
    monkeypatch.setattr(lab, "probe", lambda experiment: pytest.fail(f"{experiment.name} was probed"))
    forecasts = lab._estimate([lab._Planned(experiment) for experiment in experiments], tmp_path)
    assert forecasts == {"raw-1": pytest.approx(25.0), "hog-1": pytest.approx(25.0)}
    assert "from earlier runs here: raw-1 25 s, hog-1 25 s" in capsys.readouterr().out


def test_the_time_left_follows_how_the_finished_experiments_went():
    clock = Progress({"a": 60.0, "b": 120.0, "c": 30.0})
    assert clock.left == 210.0
    clock.finished("a", 90.0)  # took 1.5 times its forecast
    assert clock.left == pytest.approx(1.5 * 150.0)
    clock.skipped("c")
    assert clock.left == pytest.approx(1.5 * 120.0)


def test_durations_read_as_a_person_would_say_them():
    assert [minutes(s) for s in (42, 150, 3_900)] == ["42 s", "2.5 min", "1 h 05 min"]
