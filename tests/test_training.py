"""Training end to end on small slices of the real data: every preset, reproducible, resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shallowdeep._keras import keras
from shallowdeep.config import list_presets, load_experiment
from shallowdeep.evaluation import predict_probabilities
from shallowdeep.prepare import prepare_data
from shallowdeep.training import class_weights, train
import shallowdeep.training as training_module

SMALL = ["dataset.train_limit=600", "dataset.test_limit=200", "training.epochs=1", "training.warmup_epochs=0"]
RUN_FILES = {
    "config.toml", "environment.json", "history.csv", "metrics.json", "model.keras",
    "weights.md", "weights.json", "history.png", "confusion.png", "state.json",
}


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_trains_evaluates_and_saves_its_run(name, real_data_dir, real_chest_xray, tmp_path):
    experiment = load_experiment(name, SMALL)
    result = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    files = {path.name for path in result.run_dir.iterdir()}
    binary = experiment["training"]["loss"] == "binary_crossentropy"
    expected = RUN_FILES | ({"roc.png"} if binary else set())
    assert files == expected
    assert result.run_dir.parent == tmp_path / name and not result.run_dir.name.endswith(".partial")
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["test"]["samples"] == 200 and metrics["epochs"] == 1
    assert sum(sum(row) for row in metrics["test"]["confusion_matrix"]) == 200
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and np.isfinite(metrics["test"]["loss"])
    assert len(result.history) == 1 and result.history[0]["seconds"] > 0
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(result.history[0])


def test_the_saved_model_loads_safely_and_predicts_what_was_evaluated(real_data_dir, tmp_path):
    experiment = load_experiment("hog-1", SMALL)
    result = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    model = keras.saving.load_model(result.run_dir / "model.keras", safe_mode=True)
    data = prepare_data(experiment, real_data_dir, progress=False)
    predicted = predict_probabilities(model, data.x_test).argmax(axis=1)
    assert np.mean(predicted == data.y_test) == pytest.approx(result.metrics["test"]["accuracy"])


def test_the_same_seed_gives_the_same_history(real_data_dir, tmp_path):
    experiment = load_experiment("cnn-2", ["dataset.train_limit=800", "dataset.test_limit=100", "training.epochs=2"])
    data = prepare_data(experiment, real_data_dir, progress=False)
    first = train(experiment, runs_dir=tmp_path / "a", data=data, progress=False)
    second = train(experiment, runs_dir=tmp_path / "b", data=data, progress=False)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in first.history]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in second.history]
    other = train(load_experiment("cnn-2", ["dataset.train_limit=800", "dataset.test_limit=100",
                                            "training.epochs=2", "training.seed=1"]),
                  runs_dir=tmp_path / "c", data=data, progress=False)
    assert other.history[0]["loss"] != first.history[0]["loss"]


def test_an_interrupted_run_keeps_its_epochs_and_resumes(real_data_dir, tmp_path, monkeypatch):
    experiment = load_experiment("raw-1", ["dataset.train_limit=600", "dataset.test_limit=100", "training.epochs=3"])
    real_save = training_module.save_checkpoint

    def save_then_interrupt(model, run_dir, history):
        real_save(model, run_dir, history)
        if len(history) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(training_module, "save_checkpoint", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    (partial,) = (tmp_path / "raw-1").iterdir()
    assert partial.name.endswith(".partial")
    assert json.loads((partial / "state.json").read_text())["epochs_done"] == 2
    assert [p.name for p in partial.glob("checkpoint-*")] == ["checkpoint-epoch002.keras"]
    interrupted_history = (partial / "history.csv").read_text().splitlines()

    monkeypatch.setattr(training_module, "save_checkpoint", real_save)
    result = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, resume=True, progress=False)
    assert result.run_dir.name == partial.name.removesuffix(".partial")
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert (result.run_dir / "history.csv").read_text().splitlines()[:3] == interrupted_history
    assert not list(result.run_dir.glob("checkpoint-*"))


def test_a_killed_training_process_resumes_from_its_last_checkpoint(real_data_dir, tmp_path):
    command = [str(Path(sys.executable).with_name("shallowdeep")), "train", "raw-1",
               "--set", "dataset.train_limit=6000", "--set", "dataset.test_limit=100",
               "--set", "training.epochs=4", "--set", "training.batch_size=32",
               "--runs-dir", str(tmp_path), "--data-dir", str(real_data_dir), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        states = list(tmp_path.glob("raw-1/*.partial/state.json"))
        if states and json.loads(states[0].read_text()).get("epochs_done", 0) >= 1:
            state = states[0]
            break
        time.sleep(0.2)
    assert state is not None and process.poll() is None, "the run should still be training"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done < 4

    finished = subprocess.run(command + ["--resume"], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    history = (state.parent.with_name(state.parent.name.removesuffix(".partial")) / "history.csv").read_text()
    assert len(history.splitlines()) == 1 + 4


def test_balanced_class_weights_follow_the_lab_s_formula_and_reach_keras(real_data_dir, real_chest_xray, tmp_path):
    experiment = load_experiment("xray-1", ["dataset.train_limit=300", "dataset.test_limit=60",
                                            "training.epochs=1", "dataset.image_size=[64, 64]"])
    y = np.array([0] * 1341 + [1] * 3875)
    weights = class_weights(experiment, y, ("NORMAL", "PNEUMONIA"))
    assert weights == pytest.approx({0: 1.9448, 1: 0.6730}, abs=1e-4)
    data = prepare_data(experiment, real_data_dir, progress=False)
    weighted = train(experiment, runs_dir=tmp_path / "w", data=data, progress=False)
    unweighted = train(load_experiment("xray-1", ["dataset.train_limit=300", "dataset.test_limit=60",
                                                  "training.epochs=1", "dataset.image_size=[64, 64]",
                                                  'training.class_weight="none"']),
                       runs_dir=tmp_path / "u", data=data, progress=False)
    assert set(weighted.metrics["class_weight"]) == {"NORMAL", "PNEUMONIA"}
    assert unweighted.metrics["class_weight"] is None
    # Same seed, same data: only the weights differ, and the training loss shows it.
    assert weighted.history[0]["loss"] != pytest.approx(unweighted.history[0]["loss"], rel=1e-3)


def test_the_binary_threshold_comes_from_validation_not_test(real_data_dir, real_chest_xray, tmp_path):
    experiment = load_experiment("xray-1", ["dataset.train_limit=300", "dataset.test_limit=60",
                                            "training.epochs=1", "dataset.image_size=[64, 64]",
                                            'evaluation.threshold="validation"'])
    result = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    metrics = result.metrics
    assert metrics["threshold_rule"] == "maximises Youden's J on validation"
    assert metrics["test"]["threshold"] == metrics["validation"]["threshold"]
    assert metrics["alternative"]["test"]["threshold"] == 0.5
    for key in ("sensitivity", "specificity", "f1", "roc_auc"):
        assert 0.0 <= metrics["test"][key] <= 1.0


def test_the_cosine_schedule_warms_up_to_the_peak_then_decays_to_zero():
    from shallowdeep.training import learning_rate

    experiment = load_experiment("mnist-best", ["training.epochs=10", "training.warmup_epochs=2"])
    schedule = learning_rate(experiment, steps_per_epoch=100)
    at = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))  # noqa: E731
    peak = experiment["training"]["optimizer_args"]["learning_rate"]
    assert at(0) == 0.0 and at(100) == pytest.approx(peak / 2) and at(200) == pytest.approx(peak)
    assert at(600) == pytest.approx(peak / 2, rel=1e-4) and at(1000) == pytest.approx(0.0, abs=1e-9)
    assert learning_rate(load_experiment("cnn-3"), 100) == 0.001  # constant: the optimizer's own


def test_an_augmented_cosine_run_resumes_with_its_schedule(real_data_dir, tmp_path, monkeypatch):
    experiment = load_experiment("mnist-fast", ["dataset.train_limit=512", "dataset.test_limit=100",
                                                "training.epochs=2", "training.augmentation.rotation=10"])
    real_save = training_module.save_checkpoint

    def crash_after_first_epoch(model, run_dir, history):
        real_save(model, run_dir, history)
        raise KeyboardInterrupt

    monkeypatch.setattr(training_module, "save_checkpoint", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    monkeypatch.setattr(training_module, "save_checkpoint", real_save)
    result = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False, resume=True)
    assert [row["epoch"] for row in result.history] == [1, 2]
    model = keras.saving.load_model(result.run_dir / "model.keras", safe_mode=True)
    assert int(model.optimizer.iterations) == 2 * 4  # 512 images in batches of 128, twice: one schedule
