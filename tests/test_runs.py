"""Run: the one reader and writer of a run folder; everything a report needs, without training."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from shallowdeep.evaluation import ThresholdSource
from shallowdeep.experiments import load_experiment
from shallowdeep.runs import Run, RunError
from shallowdeep.training import train

pytestmark = pytest.mark.slow  # every test here trains a model

OLD_RUNS = Path(__file__).parent / "fixtures" / "runs-0.1.0"


@pytest.fixture(scope="module")
def run(real_data_dir, tmp_path_factory) -> Run:
    experiment = load_experiment("hog-1", ["dataset.train_limit=1500", "dataset.test_limit=300", "training.epochs=2"])
    return train(experiment, runs_dir=tmp_path_factory.mktemp("runs"), data_dir=real_data_dir, progress=False)


def test_a_run_opens_from_its_folder_or_its_model_file(run):
    assert Run.open(run.path) == run == Run.open(run.path / "model.keras")
    assert run.finished and run.name == "hog-1" and run.epochs_done == 2


def test_a_folder_that_is_not_a_run_is_refused_saying_what_to_give(tmp_path):
    with pytest.raises(RunError, match="is not a shallowdeep run folder.*runs/cnn-3/"):
        Run.open(tmp_path)


def test_the_model_is_loaded_only_when_asked_for(run):
    fresh = Run.open(run.path)
    assert fresh.metrics["params"] == 25_802 and "model" not in vars(fresh)
    assert fresh.model.count_params() == 25_802 and "model" in vars(fresh)


def test_the_weight_table_is_the_model_s(run):
    rows = run.weight_table()
    assert [row.layer_type for row in rows] == ["Dense", "Dropout", "Dense"]
    assert sum(row.total for row in rows) == run.model.count_params()
    assert rows[0].formula == "392*64 + 64 = 25,152"


def test_what_was_read_back_from_the_trained_model_is_kept(run):
    setup = run.training_setup
    assert setup["optimizer"] == "RMSprop" and setup["loss"] == "categorical_crossentropy"
    assert setup["optimizer_config"]["rho"] == pytest.approx(0.9) and setup["params"] == 25_802


def test_predictions_and_kept_examples_agree_with_the_metrics(run):
    predictions, examples, test = run.predictions, run.examples, run.metrics["test"]
    assert predictions.test_probabilities.shape == (300, 10) and len(predictions.val_labels) == 150
    predicted = predictions.test_probabilities.argmax(axis=1)
    assert np.mean(predicted == predictions.test_labels) == pytest.approx(test["accuracy"])
    wrong = int(np.sum(predicted != predictions.test_labels))
    assert len(examples.mistake_indices) == min(wrong, 100)
    assert np.all(examples.mistake_predicted != examples.mistake_labels)
    assert examples.sample_images.shape == (16, 28, 28) and examples.sample_images.dtype == np.uint8


def test_the_history_has_one_row_per_epoch(run):
    assert [row["epoch"] for row in run.history] == [1, 2]
    assert run.metrics["seconds_per_epoch"] == [row["seconds"] for row in run.history]


def test_a_run_finds_its_figures(run):
    assert run.figure_path("history").name == "history.png" and run.figure_path("roc") is None
    with pytest.raises(ValueError, match="no figure named 'loss'"):
        run.figure_path("loss")


def test_a_finished_run_is_found_again_for_the_same_experiment_only(run):
    runs_dir = run.path.parent.parent
    assert Run.find_finished(runs_dir, run.experiment) == run
    assert Run.find_finished(runs_dir, run.experiment.with_settings(epochs=3)) is None
    assert Run.find_interrupted(runs_dir, run.experiment) is None


@pytest.fixture
def old_runs(tmp_path) -> Path:
    target = tmp_path / "runs"
    shutil.copytree(OLD_RUNS, target)
    return target


def test_run_folders_of_version_0_1_still_open(old_runs):
    (hog_path,), (xray_path,) = (old_runs / "handout-hog").iterdir(), (old_runs / "tiny-xray").iterdir()
    hog, xray = Run.open(hog_path), Run.open(xray_path)
    assert hog.state["version"] == "0.1.0" and hog.finished
    assert hog.metrics["params"] == 816 and len(hog.history) == 1
    assert [row.layer_type for row in hog.weight_table()] == ["Dense", "Dense"]
    assert hog.training_setup["optimizer"] == "RMSprop"  # read back from the saved model itself
    # The threshold's origin, written as prose then, is read as data now.
    assert xray.metrics["threshold_source"] == ThresholdSource.VALIDATION.value
    assert xray.metrics["alternative"]["threshold_source"] == ThresholdSource.DEFAULT.value
    assert xray.grad_cam is None  # Grad-CAM heat maps were not kept then: a report leaves the figure out


def test_what_version_0_1_did_not_keep_is_refused_with_how_to_redo_it(old_runs):
    (path,) = (old_runs / "handout-hog").iterdir()
    with pytest.raises(RunError, match=r"has no predictions.npz: it was written by shallowdeep 0\.1\.0.*"
                                       r"`shallowdeep train .*config\.toml`"):
        Run.open(path).predictions
