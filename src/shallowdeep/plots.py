"""Figures for people: each function draws one kind of plot and writes it as a PNG file.

Matplotlib runs on its file-only backend (Agg), so plots work without a display.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_hog_figure(
    images: np.ndarray,
    path: str | os.PathLike,
    *,
    labels: Sequence | None = None,
    orientations: int = 8,
    pixels_per_cell: int | tuple[int, int] = (4, 4),
    title: str | None = None,
) -> Path:
    """Each image above its HOG glyph picture (see :func:`shallowdeep.features.hog_image`)."""
    from shallowdeep.features import hog_feature_size, hog_image

    plt = _pyplot()
    images = np.asarray(images)
    count = len(images)
    figure, axes = plt.subplots(2, count, figsize=(1.6 * count, 3.4), squeeze=False)
    for column, image in enumerate(images):
        axes[0, column].imshow(image, cmap="gray")
        axes[1, column].imshow(hog_image(image, orientations, pixels_per_cell), cmap="magma")
        if labels is not None:
            axes[0, column].set_title(str(labels[column]), fontsize=10)
        for axis in axes[:, column]:
            axis.set_xticks([])
            axis.set_yticks([])
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("HOG")
    size = hog_feature_size(images.shape[1:], orientations, pixels_per_cell)
    p_r, p_c = (pixels_per_cell, pixels_per_cell) if np.isscalar(pixels_per_cell) else pixels_per_cell
    figure.suptitle(
        title or f"HOG: {orientations} orientations, {p_r}x{p_c}-pixel cells, {size} features",
        fontsize=10,
    )
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
