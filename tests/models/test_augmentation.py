"""Augmentation: random per training image (affine warp, stroke thickness, blur, low resolution, elastic
distortion, exposure), nothing at inference, saved with the model."""

from __future__ import annotations

import numpy as np
import pytest

from shallowdeep.backend import keras
from shallowdeep.data import load_mnist
from shallowdeep.models import (
    RandomAffine, RandomBlur, RandomElastic, RandomIntensity, RandomLowResolution, RandomThickness, create_model,
    load_model, with_augmentation,
)
from shallowdeep.models.augmentation import resampling_matrix

#: Every augmentation layer, at strengths a digit survives.
LAYERS = {
    "affine": lambda: RandomAffine(rotation=20, zoom=0.2, shift=0.2, flip=True, shear=20, seed=1),
    "thickness": lambda: RandomThickness(1.0, seed=1),
    "blur": lambda: RandomBlur(1.5, seed=1),
    "low_resolution": lambda: RandomLowResolution(8, seed=1),
    "elastic": lambda: RandomElastic(34.0, 4.0, seed=1),
    "intensity": lambda: RandomIntensity(contrast=0.3, brightness=0.1, gamma=0.5, seed=1),
}
ALL = {"rotation": 10.0, "zoom": 0.1, "shift": 0.1, "shear": 15.0, "thickness": 1.0, "blur": 1.0,
       "low_resolution": 10, "elastic": 34.0, "elastic_sigma": 4.0, "contrast": 0.2, "brightness": 0.1, "gamma": 0.3}


def _numpy(tensor) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


@pytest.fixture(scope="module")
def digits(real_data_dir):
    (x_train, _), _ = load_mnist(real_data_dir, progress=False)
    return (x_train[:64, :, :, None] / 255.0).astype("float32")


@pytest.mark.parametrize("name", LAYERS)
def test_at_inference_images_pass_through_unchanged_and_in_training_they_change(digits, name):
    layer = LAYERS[name]()
    np.testing.assert_array_equal(_numpy(layer(digits, training=False)), digits)
    changed = np.abs(_numpy(layer(digits, training=True)) - digits).mean(axis=(1, 2, 3))
    assert np.mean(changed > 1e-3) > 0.7  # a blur of sigma near 0, a side drawn at full size: unchanged


def test_a_shear_slants_by_at_most_the_angle_asked():
    rows = _numpy(RandomAffine(shear=30, seed=0).transforms(512, 28, 28))
    np.testing.assert_allclose(rows[:, [0, 3, 4]], np.tile([1.0, 0.0, 1.0], (512, 1)), atol=1e-6)
    slant = np.degrees(np.arctan(rows[:, 1]))
    assert np.abs(slant).max() <= 30 + 1e-3 and np.abs(slant).max() > 25


def test_thickness_moves_each_digit_between_one_erosion_and_one_dilation(digits):
    dilated = _numpy(keras.ops.max_pool(digits, 3, strides=1, padding="same")).sum(axis=(1, 2, 3))
    eroded = -_numpy(keras.ops.max_pool(-digits, 3, strides=1, padding="same")).sum(axis=(1, 2, 3))
    ink = _numpy(RandomThickness(1.0, seed=4)(digits, training=True)).sum(axis=(1, 2, 3))
    original = digits.sum(axis=(1, 2, 3))
    assert np.all(eroded - 1e-3 <= ink) and np.all(ink <= dilated + 1e-3)
    assert (ink > 1.2 * original).sum() > 5 and (ink < 0.8 * original).sum() > 5


def test_blur_and_low_resolution_keep_the_ink_and_soften_the_strokes(digits):
    ink = digits.sum(axis=(1, 2, 3))
    for layer in (RandomBlur(2.0, seed=5), RandomLowResolution(8, seed=5)):
        out = _numpy(layer(digits, training=True))
        np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), ink, rtol=0.05)  # a little is lost at the edges
        assert np.median(out.max(axis=(1, 2, 3))) < 0.99 * np.median(digits.max(axis=(1, 2, 3)))


def test_resampling_to_the_same_size_changes_nothing_and_shrinking_averages_areas():
    np.testing.assert_allclose(resampling_matrix(28, 28), np.eye(28), atol=1e-12)
    matrix = resampling_matrix(28, 14)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    line = np.zeros(28)
    line[10] = 1.0  # one lit pixel shares its small pixel with its neighbour, then spreads back
    assert matrix @ line @ np.ones(28) == pytest.approx(1.0) and (matrix @ line)[10] < 0.6


def test_the_elastic_field_has_simard_s_amplitude():
    """On a horizontal ramp I(y, x) = x, the output minus the input is the field's x component:
    its standard deviation away from the edges is alpha / (sqrt(12 pi) sigma), 1.38 pixels for
    Simard et al.'s alpha = 34, sigma = 4."""
    ramp = np.tile(np.arange(28, dtype="float32"), (256, 28, 1))[..., None]
    moved = _numpy(RandomElastic(34.0, 4.0, seed=6)(ramp, training=True)) - ramp
    interior = moved[:, 10:18, 10:18, 0]
    assert np.std(interior) == pytest.approx(34.0 / (np.sqrt(12 * np.pi) * 4.0), rel=0.15)


@pytest.mark.parametrize(("layer", "argument", "value"), [
    (RandomThickness, "thickness", 4.0), (RandomBlur, "blur", 0.0), (RandomLowResolution, "low_resolution", 2),
    (RandomElastic, "alpha", -1.0), (RandomAffine, "shear", 60.0), (RandomIntensity, "gamma", 2.5),
    (RandomIntensity, "contrast", -0.1),
])
def test_each_layer_refuses_impossible_settings_by_name(layer, argument, value):
    with pytest.raises(ValueError, match="shear|thickness|blur|low_resolution|elastic|gamma|contrast"):
        layer(**{argument: value})


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


def test_an_augmented_model_saves_loads_safely_and_predicts_the_same(digits, tmp_path):
    base = create_model("convnet", (28, 28, 1), 10, blocks=[[8], [8]], dense=[16])
    model = with_augmentation(base, **ALL)
    assert [layer.__class__.__name__ for layer in model.layers[1:-1]] == [
        "RandomElastic", "RandomAffine", "RandomThickness", "RandomLowResolution", "RandomBlur", "RandomIntensity"]
    assert model.count_params() == base.count_params()
    assert with_augmentation(base) is base and with_augmentation(base, elastic_sigma=8.0) is base
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")  # safe_mode=True
    assert [layer.get_config() for layer in loaded.layers[1:-1]] == [layer.get_config() for layer in model.layers[1:-1]]
    np.testing.assert_allclose(loaded.predict(digits, verbose=0), model.predict(digits, verbose=0), atol=1e-6)


def test_exposure_changes_follow_the_formula_and_stay_in_range():
    """Each image: clip(m + c (x^g - m) + b, 0, 1), with g, c, b drawn once per image; a ramp
    shows them: its values keep their order (g, c > 0) and the same pixel map holds for every pixel."""
    ramp = np.tile(np.linspace(0.05, 0.95, 32, dtype="float32"), (32, 1))[None, :, :, None]
    images = np.repeat(ramp, 16, axis=0)
    out = _numpy(RandomIntensity(contrast=0.3, brightness=0.1, gamma=0.5, seed=4)(images, training=True))
    assert out.min() >= 0.0 and out.max() <= 1.0
    rows = out[:, 0, :, 0]
    assert np.all(np.diff(rows, axis=1) >= -1e-6)  # monotone: a darker pixel stays darker
    np.testing.assert_allclose(out, out[:, :1, :, :].repeat(32, axis=1), atol=1e-6)  # per image, not per pixel
    assert rows.std(axis=0).mean() > 0.02  # the images differ from one another
    x = ramp[0, 0, :, 0].astype(np.float64)
    curved = x[None, :] ** np.exp(np.linspace(-np.log(1.5), np.log(1.5), 41))[:, None]  # (g, pixel)
    mean = curved.mean(axis=1, keepdims=True)
    c, b = np.linspace(0.7, 1.3, 31)[:, None, None], np.linspace(-0.1, 0.1, 21)[:, None, None, None]
    grid = np.clip(mean + c * (curved - mean) + b, 0, 1)  # every (b, c, g) in range: (21, 31, 41, pixel)
    for row in rows:  # some (g, c, b) in range explains each row
        assert np.abs(grid - row).max(axis=-1).min() < 0.03
