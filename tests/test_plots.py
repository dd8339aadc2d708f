"""Plots are real PNG files a person can open."""

from __future__ import annotations

import numpy as np
from PIL import Image

from shallowdeep.plots import save_hog_figure


def test_the_hog_figure_is_a_png_with_one_column_per_image(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    images[:, 8:20, 12:16] = 255
    path = save_hog_figure(images, tmp_path / "figures" / "hog.png", labels=[1, 1, 1])
    with Image.open(path) as png:
        assert png.format == "PNG"
        width, height = png.size
    assert width > height > 100
