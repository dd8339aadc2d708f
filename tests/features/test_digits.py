"""Digits normalised as MNIST's were: MNIST's own digits unchanged in effect, a digit anywhere in
any frame brought to the same 28 x 28."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shallowdeep.data import load_mnist
from shallowdeep.features.digits import normalise_digit


@pytest.fixture(scope="module")
def mnist(real_data_dir):
    return load_mnist(real_data_dir, progress=False)


def _drawn(digit: np.ndarray, scale: int, top: int, left: int, size: int = 280) -> np.ndarray:
    """``digit`` enlarged ``scale`` times, drawn dark on a light frame at (top, left)."""
    big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR))
    frame = np.zeros((size, size), np.uint8)
    frame[top:top + big.shape[0], left:left + big.shape[1]] = big
    return 255 - frame


def _aligned_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference in grey levels, after the best shift of at most one pixel."""
    a, b = a.astype(float), b.astype(float)
    return min(np.abs(np.roll(a, (dy, dx), axis=(0, 1)) - b).mean() for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_mnist_s_own_digits_come_out_nearly_as_they_went_in(mnist):
    _, (x_test, _) = mnist
    out = np.stack([normalise_digit(image).image for image in x_test[:2000]])
    identical = np.all(out == x_test[:2000], axis=(1, 2))
    assert identical.mean() > 0.85
    assert np.abs(out.astype(int) - x_test[:2000]).mean() < 1.0  # grey levels, of 255


@pytest.mark.slow
def test_a_model_trained_on_mnist_answers_the_same_with_and_without_it(mnist, tmp_path, real_data_dir):
    import shallowdeep as sd
    from shallowdeep.evaluation import predict_probabilities

    run = sd.train("raw-3", epochs=1, runs_dir=tmp_path, data_dir=real_data_dir,
                   progress=False)
    _, (x_test, y_test) = mnist
    normalised = np.stack([normalise_digit(image).image for image in x_test])
    before = predict_probabilities(run.model, x_test.reshape(-1, 784) / 255.0).argmax(axis=1)
    after = predict_probabilities(run.model, normalised.reshape(-1, 784) / 255.0).argmax(axis=1)
    assert np.mean(before == y_test) > 0.9  # a model that reads digits (about 95 % after this one epoch)
    assert np.mean(before == after) >= 0.999


@pytest.mark.parametrize("index", range(6))
def test_a_digit_drawn_anywhere_in_its_frame_gives_the_same_28x28(mnist, index):
    _, (x_test, _) = mnist
    centred = normalise_digit(_drawn(x_test[index], 3, 100, 100))
    assert centred.inverted and not centred.empty
    for top, left in ((0, 0), (196, 196), (0, 196)):  # the corners of the 280 x 280 frame
        assert np.array_equal(normalise_digit(_drawn(x_test[index], 3, top, left)).image, centred.image)


@pytest.mark.parametrize("index", range(6))
def test_a_digit_drawn_small_or_filling_its_frame_gives_nearly_the_same_28x28(mnist, index):
    _, (x_test, _) = mnist
    centred = normalise_digit(_drawn(x_test[index], 5, 70, 70)).image
    for small_or_large in (_drawn(x_test[index], 2, 0, 0), _drawn(x_test[index], 10, 0, 0)):
        # Enlarging a 28-pixel digit 2 or 10 times blurs it differently: the strokes differ by a
        # few grey levels on average once at most one pixel of rounding is aligned.
        assert _aligned_difference(normalise_digit(small_or_large).image, centred) < 8.0


def test_specks_of_dirt_do_not_move_or_shrink_the_digit(mnist):
    _, (x_test, _) = mnist
    clean = _drawn(x_test[0], 5, 70, 70)
    dirty = clean.copy()
    dirty[5:7, 5:7] = 0  # two dark specks far from the digit
    dirty[270:272, 20:22] = 0
    assert np.array_equal(normalise_digit(dirty).image, normalise_digit(clean).image)


def test_a_grey_page_and_a_faint_pencil_are_stretched_to_mnist_s_contrast(mnist):
    _, (x_test, _) = mnist
    faint = (200 - (255 - _drawn(x_test[1], 5, 70, 70)) // 4).astype(np.uint8)  # grey page, faint strokes
    digit = normalise_digit(faint)
    assert digit.image.max() == 255 and digit.inverted
    assert _aligned_difference(digit.image, normalise_digit(_drawn(x_test[1], 5, 70, 70)).image) < 8.0


def test_a_blank_image_is_reported_as_empty():
    digit = normalise_digit(np.full((50, 50), 255, np.uint8))
    assert digit.empty and digit.image.shape == (28, 28) and digit.image.max() == 0
