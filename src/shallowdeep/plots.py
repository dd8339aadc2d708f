"""Figures for people: each function draws one kind of plot and returns a matplotlib Figure.

The figures are built with matplotlib's object-oriented API, not ``pyplot``: nothing here chooses
a backend or keeps figures alive in a global registry. A :class:`Figure` shows itself as a PNG in
Jupyter or Colab without any ``%matplotlib`` set-up, and is written to a file the same way anywhere
(:func:`save_figure`).

>>> from shallowdeep import plots
>>> figure = plots.history_figure(run.history)     # doctest: +SKIP
>>> plots.save_figure(figure, "history.png")       # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.figure
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle

from shallowdeep.storage import atomic_path

DPI = 110


class Figure(matplotlib.figure.Figure):
    """A matplotlib Figure laid out by matplotlib's constrained layout, which a notebook shows as
    a PNG whatever its matplotlib backend (IPython calls :meth:`_repr_png_`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, layout="constrained", **kwargs)

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        _print_png(self, buffer)
        return buffer.getvalue()


def save_figure(figure: matplotlib.figure.Figure, path: str | os.PathLike) -> Path:
    """Write ``figure`` as a PNG (atomically) and return the path."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as temporary:
        _print_png(figure, temporary)
    return path


def _print_png(figure: matplotlib.figure.Figure, target) -> None:
    """``figure`` as a PNG at :data:`DPI`, drawn once: the pixels of ``savefig(target, dpi=DPI)``.

    ``savefig`` draws a figure that has a layout engine twice, once to lay it out and once to paint
    it; Agg's own ``print_png`` lays it out within the one draw that paints it (the lab's confusion
    matrices 0.40 -> 0.29 s each, its training curves 0.23 -> 0.19 s, 2-core AMD EPYC Zen 3).
    The figure keeps its own canvas and resolution."""
    canvas, dpi = figure.canvas, figure.dpi
    figure.set_dpi(DPI)
    try:
        FigureCanvasAgg(figure).print_png(target)
    finally:
        figure.set_dpi(dpi)
        figure.set_canvas(canvas)


class _ImageGrid:
    """Images in rows and columns of a single axes, each stretched over its own cell, a caption
    above a cell and a label left of a row. An axes per image cost more to draw than the image,
    medians of 6 (``benchmarks/figures.py --against db205ab``, an axes per image before):
    Grad-CAM's 8 images 0.53 -> 0.28 s, HOG's 8 digits 0.43 -> 0.14 s (2-core AMD EPYC Zen 3);
    16 examples 0.52 -> 0.09 s (2-core AMD EPYC Zen 3).

    Coordinates are pixels of a cell of ``shape``: the cell at ``(row, column)`` spans
    ``column * pitch_x - 0.5`` to ``+ width`` across and ``row * pitch_y - 0.5`` to ``+ height``
    down (rows go down, as in an image); ``caption_lines`` leaves room for captions between rows."""

    def __init__(self, figure: Figure, rows: int, columns: int, shape: tuple[int, int], *, caption_lines: int = 0):
        self.height, self.width = (int(side) for side in shape)
        gap_x, gap_y = 0.06 * self.width, (0.06 + 0.3 * caption_lines) * self.height
        self.pitch_x, self.pitch_y = self.width + gap_x, self.height + gap_y
        self.axis = figure.subplots()
        self.axis.set_axis_off()
        self.axis.set_xlim(-0.5, columns * self.pitch_x - gap_x - 0.5)
        self.axis.set_ylim(rows * self.pitch_y - gap_y - 0.5, -0.5)

    def _corner(self, row: int, column: int) -> tuple[float, float]:
        return column * self.pitch_x - 0.5, row * self.pitch_y - 0.5

    def show(self, row: int, column: int, image: np.ndarray, *, frame: bool = True, **imshow) -> None:
        """``image`` over the cell (any resolution), framed as an axes would be."""
        left, top = self._corner(row, column)
        self.axis.imshow(image, extent=(left, left + self.width, top + self.height, top), **imshow)
        if frame:
            self.axis.add_patch(Rectangle((left, top), self.width, self.height, fill=False,
                                          linewidth=matplotlib.rcParams["axes.linewidth"], edgecolor="black"))

    def caption(self, row: int, column: int, text: str, **options) -> None:
        left, top = self._corner(row, column)
        self.axis.text(left + self.width / 2, top - 0.03 * self.height, text, ha="center", va="bottom", **options)

    def label(self, row: int, text: str) -> None:
        """``text`` left of the row, read upwards, as an axes' y label."""
        left, top = self._corner(row, 0)
        self.axis.text(left - 0.04 * self.width, top + self.height / 2, text, rotation=90, ha="right", va="center",
                       fontsize=matplotlib.rcParams["axes.labelsize"])


def hog_figure(
    images: np.ndarray,
    *,
    labels: Sequence | None = None,
    orientations: int = 8,
    pixels_per_cell: int | tuple[int, int] = (4, 4),
    title: str | None = None,
) -> Figure:
    """Each image above its HOG glyph picture (see :func:`shallowdeep.features.hog_image`)."""
    from shallowdeep.features import hog_feature_size, hog_image

    images = np.asarray(images)
    count = len(images)
    figure = Figure(figsize=(1.6 * count, 3.4))
    grid = _ImageGrid(figure, 2, count, images.shape[1:3])
    for column, image in enumerate(images):
        grid.show(0, column, image, cmap="gray")
        grid.show(1, column, hog_image(image, orientations, pixels_per_cell), cmap="magma")
        if labels is not None:
            grid.caption(0, column, str(labels[column]), fontsize=10)
    grid.label(0, "image")
    grid.label(1, "HOG")
    size = hog_feature_size(images.shape[1:], orientations, pixels_per_cell)
    p_r, p_c = (pixels_per_cell, pixels_per_cell) if np.isscalar(pixels_per_cell) else pixels_per_cell
    figure.suptitle(
        title or f"HOG: {orientations} orientations, {p_r}x{p_c}-pixel cells, {size} features",
        fontsize=10,
    )
    return figure


def history_figure(history: Sequence[dict], *, title: str = "") -> Figure:
    """Loss and accuracy per epoch, training beside validation."""
    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(9, 3.4))
    loss_axis, accuracy_axis = figure.subplots(1, 2)
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
    return figure


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], *, title: str = "") -> Figure:
    """The confusion matrix with counts in the cells (rows: true class, columns: predicted)."""
    matrix = np.asarray(matrix)
    size = 1.2 + 0.45 * len(class_names)
    figure = Figure(figsize=(size + 1.2, size))
    axis = figure.subplots()
    # Colour by the share of each true class, so small classes are as readable as large ones.
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    # The counts lie inside the axes, so the layout need not measure them, with the same pixels:
    # ten classes drew in 0.38 s instead of 0.46 (2-core AMD EPYC Zen 3).
    for (row, column), count in np.ndenumerate(matrix):
        axis.text(column, row, str(count), ha="center", va="center", fontsize=8,
                  color="white" if shares[row, column] > 0.6 else "black", in_layout=False)
    axis.set_xticks(range(len(class_names)), class_names)
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of the true class")
    axis.set_title(title or "confusion matrix", fontsize=10)
    return figure


def roc_figure(
    curves: Sequence[tuple[str, Sequence[float], Sequence[float], float]],
    *, operating_points: Sequence[tuple[str, float, float] | tuple[str, float, float, str]] = (), title: str = "",
) -> Figure:
    """ROC curves ``(label, fpr, tpr, auc)`` with marked operating points ``(label, fpr, tpr)``; a
    point given as ``(label, fpr, tpr, curve_label)`` takes the colour of that curve."""
    figure = Figure(figsize=(4.6, 4.2))
    axis = figure.subplots()
    colours = {}
    for label, fpr, tpr, auc in curves:
        (line,) = axis.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
        colours[label] = line.get_color()
    for label, fpr, tpr, *curve in operating_points:
        colour = colours.get(curve[0]) if curve else None
        axis.plot([fpr], [tpr], "o" if colour else "D", color=colour, markeredgecolor="black", label=label)
    axis.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    axis.set_xlabel("false positive rate (1 - specificity)")
    axis.set_ylabel("true positive rate (sensitivity)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.01)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title(title or "ROC curve", fontsize=10)
    return figure


def examples_figure(images: np.ndarray, captions: Sequence[str], *, columns: int = 8, title: str = "") -> Figure:
    """A grid of images with a caption above each (a model's mistakes, a class's examples)."""
    images = np.asarray(images)
    rows = max(1, -(-len(images) // columns))
    figure = Figure(figsize=(1.25 * columns, 1.45 * rows + 0.4))
    lines = max((str(caption).count("\n") + 1 for caption in captions[:len(images)]), default=1)
    grid = _ImageGrid(figure, rows, columns, images.shape[1:3] if images.ndim >= 3 else (28, 28), caption_lines=lines)
    for index, (image, caption) in enumerate(zip(images, captions)):
        row, column = divmod(index, columns)
        grid.show(row, column, image, frame=False, cmap="gray", vmin=0, vmax=255)
        grid.caption(row, column, caption, fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def grad_cam_figure(images: np.ndarray, heatmaps: np.ndarray, captions: Sequence[str], *, title: str = "") -> Figure:
    """Each image (grey) above the same image under its Grad-CAM heat map (in [0, 1], any
    resolution, stretched over the whole image: cell (i, j) of an h x w map covers the image's
    i-th of h rows and j-th of w columns of blocks)."""
    images, heatmaps = np.asarray(images), np.asarray(heatmaps)
    count = len(images)
    figure = Figure(figsize=(1.7 * count, 3.9))
    grid = _ImageGrid(figure, 2, count, images.shape[1:3])
    for column, (image, heatmap) in enumerate(zip(images, heatmaps)):
        for row in (0, 1):
            grid.show(row, column, image, cmap="gray", vmin=0, vmax=255)
        grid.show(1, column, heatmap, frame=False, cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
        grid.caption(0, column, captions[column], fontsize=8)
    grid.label(0, "image")
    grid.label(1, "Grad-CAM")
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def mistake_strips_figure(strips: Sequence[tuple[str, np.ndarray, Sequence[str]]], *, columns: int = 8,
                          title: str = "") -> Figure:
    """One row per model: its name, then up to ``columns`` images it misread, each captioned
    (``"7 → 1"``); ``strips`` holds ``(name, images, captions)``. A model without mistakes gets an
    empty row.

    The images are tiles of one mosaic in one axes, the gaps between them transparent. An axes per
    image, 81 for the quick lab's nine models, took 2.6 s to draw; the mosaic 0.4 s (2-core AMD EPYC Zen 3)."""
    rows = max(1, len(strips))
    shapes = [np.shape(image) for _, images, _ in strips for image in images[:columns]]
    height, width = (max(shape[0] for shape in shapes), max(shape[1] for shape in shapes)) if shapes else (28, 28)
    above, between = round(0.3 * height), round(0.08 * width)  # room for a caption; a gap between columns
    pitch_y, pitch_x = height + above, width + between
    mosaic = np.ma.array(np.zeros((rows * pitch_y, columns * pitch_x - between)), mask=True)
    figure = Figure(figsize=(1.0 + 1.05 * columns, 1.3 * rows + 0.4))
    figure.get_layout_engine().set(w_pad=8 / 72)  # the names are text beside the image, not in a frame
    axis = figure.subplots()
    axis.set_axis_off()
    for row, (name, images, captions) in enumerate(strips):
        top = row * pitch_y + above
        axis.text(-between, top + (height - 1) / 2, name, ha="right", va="center", fontsize=9)
        for column, (image, caption) in enumerate(zip(images[:columns], captions)):
            image = np.asarray(image)
            y, x = top + (height - image.shape[0]) // 2, column * pitch_x + (width - image.shape[1]) // 2
            mosaic[y:y + image.shape[0], x:x + image.shape[1]] = image
            axis.text(column * pitch_x + (width - 1) / 2, top - 0.5 - 0.06 * height, caption, ha="center", va="bottom",
                      fontsize=8)
    axis.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def run_figures(run) -> dict[str, Figure]:
    """The figures of a finished :class:`~shallowdeep.runs.Run`: training curves, test confusion
    matrix and, for binary tasks, the ROC curve with the operating point."""
    metrics, name = run.metrics, run.name
    test = metrics["test"]
    figures = {
        "history": history_figure(run.history, title=f"{name}: loss and accuracy per epoch"),
        "confusion": confusion_figure(test["confusion_matrix"], run.experiment.class_names,
                                      title=f"{name}: test set, accuracy {test['accuracy']:.4f}"),
    }
    if "roc_test" in metrics:
        roc = metrics["roc_test"]
        figures["roc"] = roc_figure(
            [("test", roc["fpr"], roc["tpr"], test["roc_auc"])],
            operating_points=[(f"threshold {test['threshold']:.3f}", 1 - test["specificity"], test["sensitivity"])],
            title=f"{name}: ROC on the test set",
        )
    return figures
