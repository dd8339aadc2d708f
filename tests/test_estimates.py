"""Time forecasts: split sizes known without the data, a probe that measures this machine, a clock
that corrects the forecast with what is done."""

from __future__ import annotations

import pytest

from shallowdeep.estimates import Progress, minutes, probe, split_sizes
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


def test_the_time_left_follows_how_the_finished_experiments_went():
    clock = Progress({"a": 60.0, "b": 120.0, "c": 30.0})
    assert clock.left == 210.0
    clock.finished("a", 90.0)  # took 1.5 times its forecast
    assert clock.left == pytest.approx(1.5 * 150.0)
    clock.skipped("c")
    assert clock.left == pytest.approx(1.5 * 120.0)


def test_durations_read_as_a_person_would_say_them():
    assert [minutes(s) for s in (42, 150, 3_900)] == ["42 s", "2.5 min", "1 h 05 min"]
