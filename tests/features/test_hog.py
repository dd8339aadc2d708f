"""HOG: the numbers of scikit-image (the lab's reference), for a whole batch at once, cached."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from skimage.feature import hog as skimage_hog

from shallowdeep.features import BLOCK_NORMS, cached_hog, cell_histograms, hog, hog_feature_size, hog_image
import shallowdeep.features._hog as hog_module


@pytest.fixture(scope="module")
def digits(real_data_dir):
    """64 real MNIST digits drawn across train and test."""
    from shallowdeep.data import load_mnist

    (x_train, _), (x_test, _) = load_mnist(real_data_dir, download=False)
    rng = np.random.default_rng(0)
    return np.concatenate([x_train[rng.choice(60000, 48, replace=False)], x_test[rng.choice(10000, 16, replace=False)]])


def reference(images, orientations, pixels_per_cell, cells_per_block, block_norm):
    return np.stack([
        skimage_hog(image, orientations=orientations, pixels_per_cell=(pixels_per_cell,) * 2,
                    cells_per_block=(cells_per_block,) * 2, block_norm=block_norm)
        for image in images
    ])


@pytest.mark.parametrize(
    ("pixels_per_cell", "orientations"), list(itertools.product([2, 4, 7], [4, 8, 9, 16]))
)
def test_equals_scikit_image_on_real_mnist(digits, pixels_per_cell, orientations):
    for cells_per_block, block_norm in itertools.product([1, 2], BLOCK_NORMS):
        ours = hog(digits, orientations, pixels_per_cell, cells_per_block, block_norm)
        expected = reference(digits, orientations, pixels_per_cell, cells_per_block, block_norm)
        assert ours.dtype == np.float32 and ours.shape == expected.shape
        difference = np.abs(ours - expected).max()
        assert difference <= 1e-6, (cells_per_block, block_norm, difference)


@pytest.mark.parametrize("block_norm", BLOCK_NORMS)
def test_equals_scikit_image_on_noise_where_every_gradient_occurs(block_norm):
    # Uniform noise gives gradients all over [-255, 255]^2, including those exactly on bin
    # edges (45, 90 and 135 degrees), and a cell size that does not divide the image.
    noise = np.random.default_rng(1).integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    for orientations, pixels_per_cell in ((8, 5), (4, 3), (9, 4)):
        ours = hog(noise, orientations, pixels_per_cell, 2, block_norm)
        expected = reference(noise, orientations, pixels_per_cell, 2, block_norm)
        assert np.abs(ours - expected).max() <= 1e-6


def test_float_images_follow_the_same_definition(digits):
    scaled = digits / 255.0
    ours = hog(scaled, 8, 4, 1, "L2-Hys")
    assert np.abs(ours - reference(scaled, 8, 4, 1, "L2-Hys")).max() <= 1e-6
    # Scaling all pixels by one factor does not change normalised histograms (up to eps).
    assert np.abs(ours - hog(digits, 8, 4, 1, "L2-Hys")).max() < 1e-3


def test_the_batch_size_and_thread_count_do_not_change_the_numbers(digits):
    whole = hog(digits, 8, 4, batch_size=1024, workers=1)
    np.testing.assert_array_equal(whole, hog(digits, 8, 4, batch_size=5, workers=2))


def test_an_all_black_image_has_all_zero_features():
    assert not hog(np.zeros((2, 28, 28), np.uint8)).any()


def test_a_single_image_gives_one_vector(digits):
    np.testing.assert_array_equal(hog(digits[0]), hog(digits[:1])[0])


@pytest.mark.parametrize(
    ("orientations", "pixels_per_cell", "size"),
    [(8, 4, 392), (16, 4, 784), (8, 7, 128), (8, 5, 200), (9, 2, 1764)],
)
def test_feature_size_is_cells_squared_times_orientations(orientations, pixels_per_cell, size):
    assert hog_feature_size((28, 28), orientations, pixels_per_cell) == size
    assert hog(np.zeros((1, 28, 28), np.uint8), orientations, pixels_per_cell).shape == (1, size)


def test_blocks_of_2x2_cells_overlap_with_a_stride_of_one_cell():
    # 7x7 cells give 6x6 blocks of 2*2*8 values.
    assert hog_feature_size((28, 28), 8, 4, 2) == 6 * 6 * 2 * 2 * 8


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"orientations": 0}, "orientations must be a positive integer"),
        ({"pixels_per_cell": 29}, "larger than the 28x28 image"),
        ({"pixels_per_cell": (4, 0)}, "pixels_per_cell must be a positive integer"),
        ({"cells_per_block": 8}, "needs at least that many cells"),
        ({"block_norm": "L3"}, "is not one of L1, L1-sqrt, L2, L2-Hys"),
    ],
)
def test_impossible_settings_are_refused_with_the_reason(arguments, message):
    with pytest.raises(ValueError, match=message):
        hog(np.zeros((1, 28, 28), np.uint8), **arguments)


def test_cached_features_are_computed_once_per_setting(digits, monkeypatch, empty_cache):
    calls = []
    real_hog = hog_module.hog
    monkeypatch.setattr(hog_module, "hog", lambda *args, **kw: calls.append(args[1:]) or real_hog(*args, **kw))
    first = cached_hog(digits, "mnist-sample", 8, 4)
    second = cached_hog(digits, "mnist-sample", 8, 4)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, real_hog(digits, 8, 4))
    assert len(calls) == 1
    cached_hog(digits, "mnist-sample", 16, 4)
    cached_hog(digits[:10], "mnist-sample", 8, 4)  # other images, same name: not confused
    assert len(calls) == 3


def test_features_cached_by_another_version_of_the_code_are_not_used(digits, monkeypatch, empty_cache):
    calls = []
    real_hog = hog_module.hog
    monkeypatch.setattr(hog_module, "hog", lambda *args, **kw: calls.append(1) or real_hog(*args, **kw))
    cached_hog(digits, "mnist-sample")
    monkeypatch.setattr(hog_module, "HOG_VERSION", hog_module.HOG_VERSION + 1)
    cached_hog(digits, "mnist-sample")
    assert len(calls) == 2


def test_the_picture_draws_an_edge_as_a_line_along_it():
    # A vertical edge: dark left half, bright right half. Its gradient points along the columns
    # (orientation 0), so the glyph in the edge cells must run up and down, not across.
    image = np.zeros((28, 28), np.uint8)
    image[:, 14:] = 255
    picture = hog_image(image, 8, 4, scale=8)
    assert picture.shape == (224, 224)
    cell = picture[4 * 32: 5 * 32, 3 * 32: 4 * 32]  # the cell left of the edge, row 4
    rows, cols = np.nonzero(cell > cell.max() / 2)
    assert np.ptp(rows) > 3 * np.ptp(cols)
    assert picture[:, :64].max() == 0  # far from the edge nothing is drawn


def test_the_picture_is_built_from_the_cell_histograms(digits):
    picture = hog_image(digits[0], 8, 4)
    assert picture.sum() > 0
    histograms = cell_histograms(digits[:1], 8, 4)[0]
    empty_rows = np.flatnonzero(histograms.sum(axis=(1, 2)) == 0)
    for row in empty_rows:
        assert picture[row * 32: (row + 1) * 32].max() == 0
