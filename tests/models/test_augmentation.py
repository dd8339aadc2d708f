"""Augmentation: one random affine warp per training image, nothing at inference, saved with the model."""

from __future__ import annotations

import numpy as np
import pytest

from shallowdeep.backend import keras
from shallowdeep.data import load_mnist
from shallowdeep.models import RandomAffine, create_model, load_model, with_augmentation


@pytest.fixture(scope="module")
def digits(real_data_dir):
    (x_train, _), _ = load_mnist(real_data_dir, progress=False)
    return (x_train[:64, :, :, None] / 255.0).astype("float32")


def test_at_inference_images_pass_through_unchanged(digits):
    layer = RandomAffine(rotation=20, zoom=0.2, shift=0.2, flip=True, seed=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(digits, training=False)), digits)


def test_a_flip_alone_mirrors_each_image_or_leaves_it_exactly(digits):
    out = keras.ops.convert_to_numpy(RandomAffine(flip=True, seed=3)(digits, training=True))
    mirrored = digits[:, :, ::-1]
    same = np.all(np.isclose(out, digits, atol=1e-6), axis=(1, 2, 3))
    flipped = np.all(np.isclose(out, mirrored, atol=1e-6), axis=(1, 2, 3))
    assert np.all(same | flipped) and 10 < flipped.sum() < 54


def test_every_transform_keeps_the_centre_fixed_when_nothing_shifts():
    rows = keras.ops.convert_to_numpy(RandomAffine(rotation=30, zoom=0.3, seed=0).transforms(256, 28, 28))
    centre = 13.5
    x_in = rows[:, 0] * centre + rows[:, 1] * centre + rows[:, 2]
    y_in = rows[:, 3] * centre + rows[:, 4] * centre + rows[:, 5]
    np.testing.assert_allclose(x_in, centre, atol=1e-4)
    np.testing.assert_allclose(y_in, centre, atol=1e-4)
    angles = np.degrees(np.arctan2(rows[:, 3], rows[:, 4]))
    scales = 1 / np.hypot(rows[:, 0], rows[:, 3])
    assert np.abs(angles).max() <= 30 + 1e-3 and np.abs(angles).max() > 20
    assert 0.7 - 1e-4 <= scales.min() and scales.max() <= 1.3 + 1e-4


def test_shifts_move_a_digit_by_at_most_the_fraction_asked(digits):
    out = keras.ops.convert_to_numpy(RandomAffine(shift=0.1, seed=2)(digits, training=True))
    columns = np.arange(28)

    def centre_of_mass(images):
        mass = images[..., 0].sum(axis=1)
        return (mass * columns).sum(axis=1) / mass.sum(axis=1)

    moved = np.abs(centre_of_mass(out) - centre_of_mass(digits))
    assert moved.max() <= 0.1 * 28 + 0.5 and moved.mean() > 0.3


@pytest.mark.parametrize(("argument", "value"), [("rotation", 180), ("zoom", 1.0), ("shift", -0.1)])
def test_impossible_settings_are_refused_by_name(argument, value):
    with pytest.raises(ValueError, match=argument):
        RandomAffine(**{argument: value})


def test_an_augmented_model_saves_loads_and_predicts_the_same(digits, tmp_path):
    base = create_model("convnet", (28, 28, 1), 10, blocks=[[8], [8]], dense=[16])
    model = with_augmentation(base, rotation=10, zoom=0.1, shift=0.1)
    assert model.count_params() == base.count_params()
    assert with_augmentation(base) is base
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(digits, verbose=0), model.predict(digits, verbose=0), atol=1e-6)
