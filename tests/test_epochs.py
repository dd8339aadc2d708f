"""The compiled epoch loop: the batches, losses and weights of Keras' own ``fit``, on every backend."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shallowdeep.backend import keras, set_random_seed
from shallowdeep.epochs import _blocks, compiled_optimizer_apply, epoch_runner, gather_batch, to_device
from shallowdeep.experiments import load_experiment
from shallowdeep.memory import ALIGNMENT, aligned, aligned_empty
from shallowdeep.models import load_model
from shallowdeep.training import (build_model, class_weights, compile_model, epoch_plan, random_state,
                                  restore_random_state, targets)


def test_an_epoch_is_cut_into_calls_of_full_batches_then_the_smaller_last_batch():
    assert _blocks(1000, 100, 4) == [(0, 4, 100), (400, 4, 100), (800, 2, 100)]
    assert _blocks(1050, 100, 4) == [(0, 4, 100), (400, 4, 100), (800, 2, 100), (1000, 1, 50)]
    assert _blocks(30, 100, 4) == [(0, 1, 30)]
    assert _blocks(300, 100, 1) == [(0, 1, 100), (100, 1, 100), (200, 1, 100)]


ON_TENSORFLOW = keras.backend.backend() == "tensorflow"


@pytest.mark.skipif(not ON_TENSORFLOW, reason="TensorFlow copies what it converts; the others place arrays as they do")
def test_an_aligned_training_set_is_held_once_on_a_cpu():
    images = aligned_empty((256, 28, 28, 1), np.float32)
    images[...] = 0.5
    tensor = to_device(images)
    images[3, 4, 5, 0] = 7.0  # the tensor reads the array's own memory
    assert keras.ops.convert_to_numpy(tensor)[3, 4, 5, 0] == 7.0
    assert images.ctypes.data % ALIGNMENT == 0


def _misaligned(values: np.ndarray) -> np.ndarray:
    array = aligned_empty((values.size + 1,), values.dtype)[1:].reshape(values.shape)  # 4 bytes past the boundary
    array[...] = values
    return array


def _read_only(values: np.ndarray) -> np.ndarray:
    array = aligned(values.copy())
    array.setflags(write=False)
    return array


@pytest.mark.parametrize("layout", [_misaligned, np.asfortranarray, _read_only])
def test_an_array_that_cannot_be_read_in_place_is_copied_whole(layout):
    values = np.arange(12 * 5, dtype=np.float32).reshape(12, 5)
    assert np.array_equal(keras.ops.convert_to_numpy(to_device(layout(values))), values)


def test_an_aligned_copy_keeps_the_values_and_an_aligned_array_is_not_copied():
    values = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    copy = aligned(values[:, :2])
    assert np.array_equal(copy, values[:, :2]) and copy.ctypes.data % ALIGNMENT == 0 and copy.flags.c_contiguous
    assert aligned(copy) is copy


def _model_and_data(name: str, count: int, *settings: str):
    experiment = load_experiment(name, ['training.precision="fp32"', *settings])
    rng = np.random.default_rng(0)
    classes = len(experiment.class_names)
    x = rng.random((count, *experiment.input_shape), dtype=np.float32)
    labels = np.arange(count) % classes
    set_random_seed(0)
    model = build_model(experiment)
    compile_model(model, experiment, train_samples=count)
    return experiment, model, x, labels, targets(labels, experiment, classes)


ON_JAX = keras.backend.backend() == "jax"


@pytest.mark.parametrize("name, settings, options", [
    ("raw-2", ["training.batch_size=32", "training.steps_per_execution=4"], {}),  # dropout: random draws too
    ("xray-1", ["dataset.image_size=[32, 32]", "training.batch_size=16"], {}),    # class weights, binary targets
    pytest.param("xray-1", ["dataset.image_size=[32, 32]", "training.batch_size=16"], {"compile_update": False},
                 marks=pytest.mark.skipif(not ON_TENSORFLOW, reason="TensorFlow's compiled update")),
    # JAX loops on the device on an accelerator only: here it is asked for, so the CPU tests it (with
    # class weights; a dense model, since XLA:CPU runs a convolution in a loop tens of times slower).
    pytest.param("raw-2", ["training.batch_size=32", "training.steps_per_execution=4",
                           'training.class_weight={"0" = 3.0, "1" = 0.5}'], {"loop_on_device": True},
                 marks=pytest.mark.skipif(not ON_JAX, reason="JAX's fori_loop")),
])
def test_an_epoch_trains_as_keras_fit_on_the_same_order(name, settings, options):
    """Same batches, same loss and metrics, same weights after the epoch: the loop only moves
    where the batches are gathered and how many run per call (on TensorFlow, ``fit`` is given the
    loop's update of the weights, which rounds as XLA does; see the next test). 200 examples
    leave a smaller last batch, and steps_per_execution leaves a call of fewer batches."""
    experiment, model, x, labels, y = _model_and_data(name, 200, *settings)
    batch = experiment["training"]["batch_size"]
    weights = class_weights(experiment, labels, experiment.class_names)
    sample_weight = None if weights is None else np.array([weights[c] for c in labels], dtype=np.float32)
    plan = epoch_plan(200, seed=0, epoch=0)
    if ON_TENSORFLOW:  # whatever the model's size
        options = {"compile_update": True, **options}
        if options["compile_update"]:
            model.optimizer.apply = compiled_optimizer_apply(model)
    fitted = model.fit(x[plan.order], y[plan.order], batch_size=batch, epochs=1, shuffle=False, verbose=0,
                       class_weight=weights, validation_data=(x[:50], y[:50])).history
    by_fit = [w.copy() for w in model.get_weights()]

    _, model, *_ = _model_and_data(name, 200, *settings)
    runner = epoch_runner(model, x, y, sample_weight, x[:50], y[:50], batch_size=batch,
                          steps_per_call=experiment["training"]["steps_per_execution"], **options)
    done = []
    logs = runner.train_epoch(plan, progress=done.append)
    validation = runner.validate()

    assert done[-1] == runner.batches == -(-200 // batch)
    assert logs["loss"] == pytest.approx(fitted["loss"][0], rel=1e-5)
    assert logs["accuracy"] == pytest.approx(fitted["accuracy"][0], abs=1e-6)
    assert validation["loss"] == pytest.approx(fitted["val_loss"][0], rel=1e-5)
    for ours, keras_own in zip(model.get_weights(), by_fit, strict=True):
        np.testing.assert_allclose(ours, keras_own, rtol=1e-4, atol=1e-6)


def test_a_model_saved_between_epochs_trains_its_next_epoch_as_if_never_saved(tmp_path):
    """What a resumed run stands on, on each backend: after an epoch the loop has left the weights,
    the optimizer's state and the random generators in the model (JAX's loop holds them in its own
    state meanwhile), so the model saved then, loaded with its generators' positions, trains the
    next epoch as the one never saved does: same loss, same weights (dropout draws included)."""
    settings = ("training.batch_size=32", "training.steps_per_execution=4")
    _, model, x, _, y = _model_and_data("raw-2", 200, *settings)

    def runner_of(model):
        return epoch_runner(model, x, y, None, x[:50], y[:50], batch_size=32, steps_per_call=4)

    runner = runner_of(model)
    runner.train_epoch(epoch_plan(200, seed=0, epoch=0))
    runner.validate()
    model.save(tmp_path / "checkpoint.keras")
    generators = random_state(model)
    never_saved = runner.train_epoch(epoch_plan(200, seed=0, epoch=1))

    loaded = load_model(tmp_path / "checkpoint.keras")
    restore_random_state(loaded, generators)
    resumed = runner_of(loaded).train_epoch(epoch_plan(200, seed=0, epoch=1))
    assert resumed == pytest.approx(never_saved, abs=1e-6)
    for ours, left_alone in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, left_alone, rtol=0, atol=1e-6)


@pytest.mark.skipif(not ON_TENSORFLOW, reason="TensorFlow's update of the weights")
@pytest.mark.parametrize("name", ["raw-2", "xray-1"])  # RMSprop, Adam
def test_the_compiled_weight_update_is_the_optimizers_own_to_rounding(name):
    """XLA fuses the optimizer's element-wise operations into one pass: five updates from the
    same gradients leave the weights Keras' own update leaves, but for the last bits of fp32
    (over an epoch such differences grow: the test above gives ``fit`` the same update)."""
    settings = ["dataset.image_size=[32, 32]"] if name == "xray-1" else []
    weights = []
    for apply in ("keras", "compiled"):
        _, model, *_ = _model_and_data(name, 10, *settings)
        initial = model.get_weights()
        model.optimizer.build(model.trainable_variables)
        update = compiled_optimizer_apply(model) if apply == "compiled" else model.optimizer.apply
        rng = np.random.default_rng(1)
        for _ in range(5):
            update([rng.standard_normal(v.shape).astype(np.float32) for v in model.trainable_variables],
                   model.trainable_variables)
        assert model.optimizer.iterations.numpy() == 5
        assert not any(np.array_equal(now, before) for now, before in zip(model.get_weights(), initial))
        weights.append(model.get_weights())
    for own, compiled in zip(*weights, strict=True):
        np.testing.assert_allclose(compiled, own, rtol=1e-6, atol=1e-7)


def test_uint8_pixels_become_numpys_float32_division_on_the_device_to_the_bit():
    _, model, *_ = _model_and_data("raw-1", 64, "model.args.hidden=[4]")
    pixels = aligned(np.arange(256 * 784, dtype=np.int64).astype(np.uint8).reshape(256, 784))  # every value
    labels = np.eye(10, dtype=np.float32)[np.arange(256) % 10]
    runner = epoch_runner(model, pixels, labels, None, pixels[:8] / np.float32(255), labels[:8], batch_size=64,
                          steps_per_call=2, divide_by=255.0)
    indices = np.array([255, 0, 17, 40], dtype=np.int32)
    batch_x, batch_y = gather_batch(*runner.train_arrays[:2], None, indices, **runner.pixel_scale)
    assert keras.ops.convert_to_numpy(batch_x).dtype == np.float32
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(batch_x), pixels[indices] / np.float32(255))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(batch_y), labels[indices])


def test_an_epoch_on_uint8_pixels_trains_exactly_as_on_their_float32_features():
    _, _, x, _, y = _model_and_data("raw-2", 200, "training.batch_size=32", "training.steps_per_execution=4")
    pixels = aligned(np.random.default_rng(1).integers(0, 256, x.shape, dtype=np.uint8))
    features = aligned(pixels / np.float32(255))
    runs = []
    for inputs, divide_by in ((features, None), (pixels, 255.0)):
        _, model, *_ = _model_and_data("raw-2", 200, "training.batch_size=32", "training.steps_per_execution=4")
        runner = epoch_runner(model, inputs, y, None, features[:50], y[:50], batch_size=32, steps_per_call=4,
                              divide_by=divide_by)
        runs.append((runner.train_epoch(epoch_plan(200, seed=0, epoch=0, mixup=0.4)), runner.validate(),
                     model.get_weights()))
    (float_logs, float_validation, float_weights), (pixel_logs, pixel_validation, pixel_weights) = runs
    assert pixel_logs == float_logs and pixel_validation == float_validation
    for from_pixels, from_features in zip(pixel_weights, float_weights, strict=True):
        np.testing.assert_array_equal(from_pixels, from_features)


def test_mixup_in_the_loop_trains_on_blended_batches():
    experiment, model, x, labels, y = _model_and_data("raw-1", 256, "training.batch_size=64")
    runner = epoch_runner(model, x, y, None, x[:64], y[:64], batch_size=64, steps_per_call=2)
    plain = runner.train_epoch(epoch_plan(256, seed=0, epoch=0))
    mixed = runner.train_epoch(epoch_plan(256, seed=0, epoch=1, mixup=0.4))
    # Blended one-hot targets: the model cannot be "accurate" on them as on pure ones, yet it trains.
    assert np.isfinite(mixed["loss"]) and mixed["loss"] != pytest.approx(plain["loss"], rel=1e-3)


OTHER_BACKENDS = [name for name in ("tensorflow", "torch", "jax")
                  if name != keras.backend.backend() and importlib.util.find_spec(name) is not None]


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_the_loop_matches_fit_on_every_installed_backend(backend, tmp_path):
    """Each backend has its own compiled loop (TensorFlow's while loop, JAX's fori_loop or jitted
    steps, PyTorch's eager steps): the same specification runs on each backend installed here."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_XDIST")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                           "--basetemp", str(tmp_path / "pytest"), "-m", "not slow", __file__],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=600,
                          env={**environment, "KERAS_BACKEND": backend})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "failed" not in done.stdout.splitlines()[-1] and " passed" in done.stdout.splitlines()[-1]
