"""The Python API: what the command line does, as functions taking and returning Python objects."""

from __future__ import annotations

import pytest

import shallowdeep as sd
from shallowdeep.backend import keras

pytestmark = [pytest.mark.slow, pytest.mark.every_backend]  # every test here trains a model


@pytest.fixture(scope="module")
def run(real_data_dir, tmp_path_factory) -> sd.Run:
    return sd.train("raw-1", epochs=1, train_limit=1500, test_limit=300, runs_dir=tmp_path_factory.mktemp("runs"),
                    data_dir=real_data_dir, progress=False)


def test_train_takes_python_settings_and_returns_the_finished_run(run):
    assert isinstance(run, sd.Run) and run.finished
    assert run.experiment["training"]["epochs"] == 1 and run.experiment["dataset"]["train_limit"] == 1500
    assert isinstance(run.model, keras.Model) and run.model.count_params() == 407_050
    assert sum(row.total for row in run.weight_table()) == 407_050
    assert len(run.history) == 1 and run.metrics["test"]["samples"] == 300


def test_load_run_opens_what_train_wrote(run):
    again = sd.load_run(run.path)
    assert again == run and again.metrics["test"] == run.metrics["test"]


def test_evaluating_a_run_again_gives_its_own_figures(run, real_data_dir):
    metrics = sd.evaluate(run, data_dir=real_data_dir)
    assert metrics["test"]["confusion_matrix"] == run.metrics["test"]["confusion_matrix"]
    assert metrics["test"]["loss"] == pytest.approx(run.metrics["test"]["loss"], rel=1e-5)


def test_a_bare_keras_model_is_evaluated_through_the_preprocessing_its_input_implies(run, real_data_dir):
    metrics = sd.evaluate(run.model, "mnist", test_limit=300, data_dir=real_data_dir)
    assert metrics["test"]["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])
    with pytest.raises(sd.ShallowDeepError, match=r"no preset takes inputs of shape \(5,\)"):
        sd.evaluate(keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)]), "mnist", data_dir=real_data_dir)


def test_a_report_from_runs_trains_nothing_and_reads_no_dataset(run, tmp_path, monkeypatch):
    monkeypatch.setenv("SHALLOWDEEP_DATA", str(tmp_path / "no-data-here"))  # any dataset load would fail
    markdown, html = sd.report([run.path], tmp_path / "out", lang="fr")
    text = markdown.read_text()
    assert "## Q2. Les expériences MNIST" in text and "| raw-1 | repris | 407\u202f050 |" in text
    environment = run.environment  # the report says where each model was trained, and what the CPU computes with
    features = ", ".join(feature.upper() for feature in environment["cpu_features"])
    cpu = f"{environment['cpu']} ({features})" if features else environment["cpu"]
    where = cpu if environment["device"] == "cpu" else environment["device"]
    assert f"| Entraîné sur (matériel, moteur) | {where}, {environment['backend']}: raw-1 |" in text
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert not (tmp_path / "no-data-here").exists()


def test_presets_and_experiments_are_at_hand():
    assert sd.presets("best") == ["mnist-fast", "mnist-best", "mnist-robust", "xray-best", "pneumoniamnist-best"]
    assert sd.experiment("cnn-3", epochs=2)["training"]["epochs"] == 2
    with pytest.raises(sd.ConfigError, match="training.epochs = 0 is not allowed"):
        sd.experiment("cnn-3", epochs=0)
