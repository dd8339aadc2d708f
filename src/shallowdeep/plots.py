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
    return _save(figure, path)


def _save(figure, path: str | os.PathLike) -> Path:
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def save_history_figure(history: Sequence[dict], path: str | os.PathLike, *, title: str = "") -> Path:
    """Loss and accuracy per epoch, training beside validation."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(9, 3.4))
    for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        axis.plot(epochs, [row[metric] for row in history], "o-", label="training")
        if all(f"val_{metric}" in row for row in history):
            axis.plot(epochs, [row[f"val_{metric}"] for row in history], "s--", label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
        if len(epochs) < 12:
            axis.set_xticks(epochs)
    figure.suptitle(title or "training history", fontsize=11)
    return _save(figure, path)


def save_confusion_figure(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """The confusion matrix with counts in the cells (rows: true class, columns: predicted)."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    size = 1.2 + 0.45 * len(class_names)
    figure, axis = plt.subplots(figsize=(size + 1.2, size))
    # Colour by the share of each true class, so small classes are as readable as large ones.
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(matrix):
        axis.text(column, row, str(count), ha="center", va="center", fontsize=8,
                  color="white" if shares[row, column] > 0.6 else "black")
    axis.set_xticks(range(len(class_names)), class_names)
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of the true class")
    axis.set_title(title or "confusion matrix", fontsize=10)
    return _save(figure, path)


def save_roc_figure(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray, float]], path: str | os.PathLike,
    *, operating_points: Sequence[tuple[str, float, float]] = (), title: str = "",
) -> Path:
    """ROC curves ``(label, fpr, tpr, auc)`` with marked operating points ``(label, fpr, tpr)``."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.6, 4.2))
    for label, fpr, tpr, auc in curves:
        axis.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    for label, fpr, tpr in operating_points:
        axis.plot([fpr], [tpr], "o", label=label)
    axis.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    axis.set_xlabel("false positive rate (1 - specificity)")
    axis.set_ylabel("true positive rate (sensitivity)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.01)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title(title or "ROC curve", fontsize=10)
    return _save(figure, path)
