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

from shallowdeep.backend import keras
from shallowdeep.epochs import gather_batch
from shallowdeep.evaluation import choose_threshold, metrics_from_predictions, predict_probabilities
from shallowdeep.experiments import ConfigError, list_presets, load_experiment, suite_members
from shallowdeep.memory import ALIGNMENT
from shallowdeep.prepare import features_from_images, prepare_data
from shallowdeep.runs import Run
from shallowdeep import training
from shallowdeep.training import CheckpointSchedule, class_weights, epoch_plan, learning_rate, train

pytestmark = pytest.mark.slow  # every test here trains a model

SMALL = ["dataset.train_limit=600", "dataset.test_limit=200", "training.epochs=1", "training.warmup_epochs=0"]
#: The presets the quick labs do not train (tests/test_lab.py checks the runs of the seed and best suites).
OUTSIDE_THE_LAB_SUITES = [name for name in list_presets() if name not in suite_members("seed") + suite_members("best")]


@pytest.mark.parametrize("name", OUTSIDE_THE_LAB_SUITES)
def test_every_other_preset_trains_evaluates_and_saves_its_run(name, real_data_dir, real_chest_xray, tmp_path,
                                                               check_run_folder):
    # The 128 x 128 chest X-ray CNN on 300 images: a sixth of the suite's time for it to show the same thing.
    fewer = ["dataset.train_limit=300"] if load_experiment(name).dataset == "chest_xray" else []
    experiment = load_experiment(name, [*SMALL, *fewer])
    run = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    assert run.path.parent == tmp_path / name
    check_run_folder(run, experiment, test_samples=200, epochs=1)


def test_the_saved_model_loads_safely_and_predicts_what_was_evaluated(real_data_dir, tmp_path):
    class NoteTheLastCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            (checkpoint,) = tmp_path.glob("hog-1/*/checkpoint-epoch*.keras")
            self.file = checkpoint.stat().st_ino

    experiment = load_experiment("hog-1", SMALL)
    noted = NoteTheLastCheckpoint()
    run = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False, callbacks=[noted])
    # The checkpoint written after the last epoch is the run's model.keras, not saved a second time.
    assert (run.path / "model.keras").stat().st_ino == noted.file
    assert not list(run.path.glob("checkpoint-epoch*"))
    model = keras.saving.load_model(run.path / "model.keras", safe_mode=True)
    data = prepare_data(experiment, real_data_dir, progress=False)
    probabilities = predict_probabilities(model, data.x_test)
    assert np.mean(probabilities.argmax(axis=1) == data.y_test) == pytest.approx(run.metrics["test"]["accuracy"])
    np.testing.assert_allclose(run.predictions.test_probabilities, probabilities, atol=1e-6)
    np.testing.assert_array_equal(run.predictions.test_labels, data.y_test)


@pytest.mark.parametrize("name, training_dtype", [("raw-1", np.uint8), ("hog-1", np.float32), ("cnn-1", np.uint8)])
def test_every_split_is_prepared_in_memory_the_training_loop_reads_in_place(name, training_dtype, real_data_dir):
    """Pixels scaled are trained on from their uint8 bytes (pixel / divisor on the device), computed
    features (HOG) as float32; every split in aligned memory, which TensorFlow reads in place."""
    experiment = load_experiment(name, SMALL)
    data = prepare_data(experiment, real_data_dir, progress=False)
    assert data.x_train.dtype == training_dtype and data.x_val.dtype == data.x_test.dtype == np.float32
    assert data.x_train.shape[1:] == data.x_test.shape[1:] == experiment.input_shape
    for split in (data.x_train, data.x_val, data.x_test):
        assert split.flags.c_contiguous and split.ctypes.data % ALIGNMENT == 0
    if data.train_divisor is not None:  # what the loop divides is what the features would be, to the bit
        np.testing.assert_array_equal(data.x_train / np.float32(data.train_divisor),
                                      features_from_images(data.x_train.reshape(len(data.x_train), 28, 28), experiment))


def test_a_run_says_where_its_time_went(real_data_dir, tmp_path):
    run = train(load_experiment("raw-1", SMALL), runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    phases = run.metrics["phase_seconds"]
    assert list(phases) == list(training.PHASES) and all(seconds >= 0 for seconds in phases.values())
    assert phases["passes"] > 0 and phases["checkpoints"] > 0 and phases["data"] > 0
    trained = run.metrics["training_seconds"]
    assert phases["passes"] + phases["epochs_other"] == pytest.approx(trained)


def test_the_same_seed_gives_the_same_history(real_data_dir, tmp_path):
    experiment = load_experiment("raw-2", ["dataset.train_limit=2000", "dataset.test_limit=100", "training.epochs=2"])
    data = prepare_data(experiment, real_data_dir, progress=False)
    first = train(experiment, runs_dir=tmp_path / "a", data=data, progress=False)
    second = train(experiment, runs_dir=tmp_path / "b", data=data, progress=False)
    assert _without_time(first.history) == _without_time(second.history)
    other = train(experiment.with_settings(seed=1), runs_dir=tmp_path / "c", data=data, progress=False)
    assert other.history[0]["loss"] != first.history[0]["loss"]


def _without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.every_backend
def test_an_interrupted_run_keeps_its_epochs_and_resumes(real_data_dir, tmp_path, monkeypatch):
    experiment = load_experiment("raw-1", ["dataset.train_limit=600", "dataset.test_limit=100", "training.epochs=3"])
    monkeypatch.setattr(training, "CHECKPOINT_RATIO", 0)  # a checkpoint after every epoch, however short
    real_save = Run.save_checkpoint

    def save_then_interrupt(run, model, history, **state):
        real_save(run, model, history, **state)
        if len(history) == 2:
            raise KeyboardInterrupt  # as Ctrl-C right after the second epoch's checkpoint

    monkeypatch.setattr(Run, "save_checkpoint", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    (partial,) = (tmp_path / "raw-1").iterdir()
    assert partial.name.endswith(".partial")
    assert json.loads((partial / "state.json").read_text())["epochs_done"] == 2
    assert [p.name for p in partial.glob("checkpoint-*")] == ["checkpoint-epoch002.keras"]
    interrupted_history = (partial / "history.csv").read_text().splitlines()

    monkeypatch.setattr(Run, "save_checkpoint", real_save)
    run = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, resume=True, progress=False)
    assert run.path.name == partial.name.removesuffix(".partial")
    assert [row["epoch"] for row in run.history] == [1, 2, 3]
    assert (run.path / "history.csv").read_text().splitlines()[:3] == interrupted_history
    assert not list(run.path.glob("checkpoint-*"))


def test_checkpoints_cost_at_most_a_twentieth_of_the_training():
    """A checkpoint that takes 0.1 s to write waits for 2 s of training: after every epoch of 5 s,
    after every 67th of 0.03 s (a GPU's), and always after the last."""
    slow, fast = CheckpointSchedule(), CheckpointSchedule()
    for schedule in (slow, fast):
        assert schedule.due(0.03)  # the first measures what writing costs
        schedule.write_seconds, schedule.trained_seconds = 0.1, 0.0
    assert all(slow.due(5.0) for _ in range(3))
    due = [fast.due(0.03) for _ in range(67)]
    assert due == [False] * 66 + [True]
    fast.trained_seconds = 0.0
    assert not fast.due(0.03) and fast.due(0.03, last=True)


def test_a_run_interrupted_between_checkpoints_resumes_to_the_history_it_would_have_had(
        real_data_dir, tmp_path, monkeypatch):
    """Epochs too short to earn a checkpoint of their own: the run keeps its last one (epoch 1),
    and the resumed run trains epochs 2 and 3 again to the uninterrupted run's history."""
    experiment = load_experiment("raw-2", ["dataset.train_limit=600", "dataset.test_limit=100", "training.epochs=4",
                                           'training.precision="fp32"'])
    monkeypatch.setattr(training, "CHECKPOINT_RATIO", 1e9)  # only the first and the last epoch earn one
    saved = []
    real_save = Run.save_checkpoint
    monkeypatch.setattr(Run, "save_checkpoint", lambda run, model, history, **state: (
        saved.append(len(history)), real_save(run, model, history, **state)))

    class InterruptAfterEpoch3(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False,
              callbacks=[InterruptAfterEpoch3()])
    assert saved == [1]
    (partial,) = (tmp_path / "raw-2").iterdir()
    assert json.loads((partial / "state.json").read_text())["epochs_done"] == 1
    resumed = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False, resume=True)
    assert saved == [1, 2, 4]  # the resumed process measures a checkpoint's cost after its first epoch
    uninterrupted = train(experiment, runs_dir=tmp_path / "uninterrupted", data_dir=real_data_dir, progress=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    for again, left_alone in zip(_without_time(resumed.history), _without_time(uninterrupted.history), strict=True):
        assert again == pytest.approx(left_alone, abs=1e-6)


def test_a_killed_training_process_resumes_into_the_run_that_would_have_been(real_data_dir, tmp_path,
                                                                             start_process):
    settings = ["dataset.train_limit=6000", "dataset.test_limit=100", "training.epochs=4", "training.batch_size=32",
                'training.precision="fp32"']
    command = [str(Path(sys.executable).with_name("shallowdeep")), "train", "raw-2",
               *(part for setting in settings for part in ("--set", setting)),
               "--runs-dir", str(tmp_path / "killed"), "--data-dir", str(real_data_dir), "--no-progress"]
    process = start_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        states = list((tmp_path / "killed").glob("raw-2/*.partial/state.json"))
        if states and json.loads(states[0].read_text()).get("epochs_done", 0) >= 1:
            state = states[0]
            break
        time.sleep(0.05)
    assert state is not None and process.poll() is None, "the run should still be training"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done < 4

    resumed = train(load_experiment("raw-2", settings), runs_dir=tmp_path / "killed", data_dir=real_data_dir,
                    resume=True, progress=False)
    assert resumed.path.name == state.parent.name.removesuffix(".partial")
    left_alone = train(load_experiment("raw-2", settings), runs_dir=tmp_path / "left-alone",
                       data_dir=real_data_dir, progress=False)
    # Dropout masks and the order of examples continue where they were: the same run, epoch for epoch.
    for after_kill, uninterrupted in zip(resumed.history, left_alone.history, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert after_kill[key] == pytest.approx(uninterrupted[key], abs=1e-6), (after_kill["epoch"], key)


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


def test_a_trained_run_s_threshold_is_youden_s_on_its_own_validation_predictions(real_data_dir, real_chest_xray,
                                                                                   tmp_path):
    experiment = load_experiment("xray-1", ["dataset.train_limit=300", "dataset.test_limit=60",
                                            "training.epochs=1", "dataset.image_size=[64, 64]",
                                            'evaluation.threshold="validation"'])
    run = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    predictions = run.predictions
    from_validation = choose_threshold(predictions.val_labels, predictions.val_probabilities[:, 1].astype(np.float64))
    assert run.metrics["test"]["threshold"] == from_validation
    # Every stored figure follows from the stored predictions: nothing else went into them.
    recomputed = metrics_from_predictions(experiment, predictions)
    for split in ("validation", "test"):
        assert recomputed[split]["confusion_matrix"] == run.metrics[split]["confusion_matrix"]
        assert recomputed[split]["roc_auc"] == pytest.approx(run.metrics[split]["roc_auc"])
    assert len(predictions.val_labels) == sum(run.metrics["class_counts"]["validation"])


def test_an_epoch_s_order_and_mixup_are_drawn_from_seed_and_epoch_alone():
    plan = epoch_plan(64, seed=3, epoch=5)
    assert sorted(plan.order) == list(range(64)) and plan.partners is None
    np.testing.assert_array_equal(epoch_plan(64, seed=3, epoch=5).order, plan.order)  # a resumed run replays it
    assert not np.array_equal(epoch_plan(64, seed=3, epoch=6).order, plan.order)
    mixed = epoch_plan(64, seed=3, epoch=5, mixup=0.4)
    np.testing.assert_array_equal(mixed.order, plan.order)  # mixup leaves the order alone
    assert sorted(mixed.partners) == list(range(64)) and np.all((mixed.weights >= 0) & (mixed.weights <= 1))
    np.testing.assert_array_equal(epoch_plan(64, seed=3, epoch=5, mixup=0.4).weights, mixed.weights)


def test_mixup_blends_each_image_and_its_target_with_the_same_weight():
    """Image i, all of value i, with target i: after mixup each image is still uniform, its value is
    a convex blend of two images, and its target is the very same blend."""
    count = 64
    x = np.broadcast_to(np.arange(count, dtype=np.float32)[:, None, None, None], (count, 4, 4, 1)).copy()
    y = np.arange(count, dtype=np.float32)[:, None]
    plan = epoch_plan(count, seed=3, epoch=5, mixup=0.4)
    mixed_x, mixed_y = (keras.ops.convert_to_numpy(a) for a in
                        gather_batch(x, y, None, plan.order, plan.partners, plan.weights))
    np.testing.assert_allclose(mixed_x, np.broadcast_to(mixed_y[:, :, None, None], x.shape), rtol=1e-6)
    assert mixed_y.min() >= 0 and mixed_y.max() <= count - 1 and not np.allclose(mixed_y, y[plan.order])
    one_hot = np.eye(4, dtype=np.float32)[np.arange(count) % 4]
    mixed_one_hot = keras.ops.convert_to_numpy(gather_batch(x, one_hot, None, plan.order, plan.partners, plan.weights)[1])
    assert np.allclose(mixed_one_hot.sum(axis=1), 1.0)  # mixed one-hot rows stay distributions


def test_a_mixup_run_trains_and_mixup_refuses_what_cannot_take_mixed_targets(real_data_dir, tmp_path):
    experiment = load_experiment("raw-1", ["dataset.train_limit=300", "dataset.test_limit=100", "training.epochs=1",
                                           "training.mixup=0.4"])
    run = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    assert run.metrics["epochs"] == 1 and np.isfinite(run.history[0]["loss"])
    with pytest.raises(ConfigError, match='training.class_weight = "balanced" is not allowed; expected "none" with '
                                          "training.mixup = 0.4"):
        load_experiment("xray-1", ["training.mixup=0.4"])
    with pytest.raises(ConfigError, match="training.loss = .sparse_categorical_crossentropy. is not allowed"):
        load_experiment("raw-1", ["training.mixup=0.2", 'training.loss="sparse_categorical_crossentropy"'])


def test_the_cosine_schedule_warms_up_to_the_peak_then_decays_to_zero():
    experiment = load_experiment("mnist-best", ["training.epochs=10", "training.warmup_epochs=2"])
    schedule = learning_rate(experiment, steps_per_epoch=100)
    at = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))  # noqa: E731
    peak = experiment["training"]["optimizer_args"]["learning_rate"]
    assert at(0) == 0.0 and at(100) == pytest.approx(peak / 2) and at(200) == pytest.approx(peak)
    assert at(600) == pytest.approx(peak / 2, rel=1e-4) and at(1000) == pytest.approx(0.0, abs=1e-9)
    assert learning_rate(load_experiment("cnn-3"), 100) == 0.001  # constant: the optimizer's own


@pytest.mark.every_backend
def test_an_augmented_cosine_run_resumes_with_its_schedule(real_data_dir, tmp_path, monkeypatch):
    experiment = load_experiment("mnist-fast", ["dataset.train_limit=512", "dataset.test_limit=100",
                                                "training.epochs=2", "training.augmentation.rotation=10",
                                                'training.precision="fp32"'])
    monkeypatch.setattr(training, "CHECKPOINT_RATIO", 0)  # a checkpoint after every epoch, however short
    real_save = Run.save_checkpoint

    def crash_after_first_epoch(run, model, history, **state):
        real_save(run, model, history, **state)
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "save_checkpoint", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False)
    monkeypatch.setattr(Run, "save_checkpoint", real_save)
    run = train(experiment, runs_dir=tmp_path, data_dir=real_data_dir, progress=False, resume=True)
    assert [row["epoch"] for row in run.history] == [1, 2]
    left_alone = train(experiment, runs_dir=tmp_path / "left-alone", data_dir=real_data_dir, progress=False)
    for resumed, uninterrupted in zip(_without_time(run.history), _without_time(left_alone.history), strict=True):
        assert resumed == pytest.approx(uninterrupted, abs=1e-6)  # augmentation draws continue where they were
    model = run.model
    assert int(model.optimizer.iterations) == 2 * 4  # 512 images in batches of 128, twice: one schedule
