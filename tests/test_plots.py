"""Plots are matplotlib Figures a notebook shows inline and a PNG file a person can open."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from shallowdeep import plots


def _cells(axis) -> list[tuple[float, float, float, float]]:
    """The (left, right, bottom, top) of each image the axes shows, in the order they were added."""
    return [tuple(image.get_extent()) for image in axis.get_images()]


def test_the_hog_figure_shows_each_image_above_its_hog_in_one_column(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    images[:, 8:20, 12:16] = 255
    figure = plots.hog_figure(images, labels=[1, 2, 3])
    assert isinstance(figure, Figure)
    (axis,) = figure.axes
    shown = axis.get_images()
    assert [np.array_equal(image.get_array(), digit) for image, digit in zip(shown[::2], images)] == [True] * 3
    assert all(glyphs.get_array().shape == (224, 224) for glyphs in shown[1::2])
    cells = _cells(axis)
    for (left, right, bottom, top), (hog_left, hog_right, hog_bottom, hog_top) in zip(cells[::2], cells[1::2]):
        assert (hog_left, hog_right) == (left, right) and hog_top > bottom  # the HOG below its image (rows go down)
        assert right - left == pytest.approx(bottom - top) == hog_right - hog_left == hog_bottom - hog_top  # square
    assert [left for left, *_ in cells[::2]] == sorted(left for left, *_ in cells[::2])
    captions = {text.get_text(): text.get_position() for text in axis.texts}
    for label, (left, right, _, top) in zip("123", cells[::2]):
        assert captions[label][0] == pytest.approx((left + right) / 2) and captions[label][1] < top
    assert captions["image"][0] < cells[0][0] and cells[0][3] < captions["image"][1] < cells[0][2]
    assert captions["HOG"][0] < cells[1][0] and cells[1][3] < captions["HOG"][1] < cells[1][2]
    assert figure._repr_png_().startswith(b"\x89PNG")  # how Jupyter shows it
    path = plots.save_figure(figure, tmp_path / "figures" / "hog.png")
    with Image.open(path) as png:
        assert png.format == "PNG"
        width, height = png.size
    assert width > height > 100


def test_grad_cam_lays_each_heat_map_over_its_image_below_the_image_itself():
    images = np.random.default_rng(0).integers(0, 256, (2, 40, 40), dtype=np.uint8)
    heatmaps = np.random.default_rng(1).random((2, 5, 5))
    figure = plots.grad_cam_figure(images, heatmaps, ["NORMAL → PNEUMONIA\nP = 0.91", "PNEUMONIA → NORMAL\nP = 0.12"])
    (axis,) = figure.axes
    shown = axis.get_images()
    assert [image.get_array().shape for image in shown] == [(40, 40), (40, 40), (5, 5)] * 2
    above, below, heat = _cells(axis)[:3]
    assert heat == below and below[3] > above[2] and (below[0], below[1]) == (above[0], above[1])
    assert shown[2].get_alpha() == 0.45 and shown[2].get_interpolation() == "bilinear"
    assert _cells(axis)[3][0] > above[1]  # the second image right of the first


def test_examples_wrap_into_rows_with_room_for_their_captions():
    images = np.random.default_rng(0).integers(0, 256, (10, 5, 5), dtype=np.uint8)
    figure = plots.examples_figure(images, [f"filter {i}" for i in range(10)], columns=4)
    (axis,) = figure.axes
    cells = _cells(axis)
    assert len(cells) == 10
    rows = sorted({top for *_, top in cells})
    assert len(rows) == 3 and [sum(top == row for *_, top in cells) for row in rows] == [4, 4, 2]
    captions = [text.get_position() for text in axis.texts]
    for (left, right, _, top), (x, y) in zip(cells, captions):
        assert x == pytest.approx((left + right) / 2) and y < top
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)  # laid out as a PNG would be: the room between rows holds the captions as drawn
    for (left, _, bottom, _), text in zip(cells[:-4], axis.texts[4:]):
        _, image_above_bottom = axis.transData.transform((left, bottom))  # display coordinates go up
        assert text.get_window_extent(renderer).y1 < image_above_bottom
    assert all(left < right for left, right, *_ in cells) and cells[1][0] > cells[0][1]  # gaps between columns
    assert not axis.patches  # examples are shown unframed


def test_figures_show_their_numbers(tmp_path):
    figure = plots.confusion_figure([[5, 1], [2, 7]], ["NORMAL", "PNEUMONIA"], title="mine")
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts == ["5", "1", "2", "7"] and figure.axes[0].get_title() == "mine"
    wide = plots.confusion_figure(np.full((10, 10), 8888) - np.eye(10, dtype=int), list("0123456789"))
    canvas = FigureCanvasAgg(wide)  # drawn: laid out without measuring the counts, which must lie inside their axes
    canvas.draw()
    renderer, axis = canvas.get_renderer(), wide.axes[0]
    inside = axis.get_window_extent()
    for text in axis.texts:
        box = text.get_window_extent(renderer)
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
    history = [{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.4, "val_accuracy": 0.85},
               {"epoch": 2, "loss": 0.3, "accuracy": 0.9, "val_loss": 0.35, "val_accuracy": 0.88}]
    loss_axis = plots.history_figure(history).axes[0]
    assert [line.get_label() for line in loss_axis.get_lines()] == ["training", "validation"]
    assert list(loss_axis.get_lines()[1].get_ydata()) == [0.4, 0.35]


def test_plotting_chooses_no_backend_and_keeps_no_figure_alive(tmp_path):
    """Inline figures in Jupyter need the notebook's own backend: shallowdeep must not pick one."""
    script = (
        "import sys, matplotlib\n"
        "from shallowdeep import plots\n"
        "figure = plots.roc_figure([('test', [0, 0.5, 1], [0, 0.9, 1], 0.8)], operating_points=[('t', 0.1, 0.7)])\n"
        "plots.save_figure(figure, sys.argv[1])\n"
        "print('pyplot' if 'matplotlib.pyplot' in sys.modules else 'no pyplot',"
        " matplotlib.rcParams._get_backend_or_none())\n"
    )
    shown = subprocess.run([sys.executable, "-c", script, str(tmp_path / "roc.png")], capture_output=True,
                           text=True, env={**os.environ, "MPLBACKEND": ""}, check=True).stdout
    assert shown.split() == ["no", "pyplot", "None"]
    assert (tmp_path / "roc.png").stat().st_size > 1000


def test_a_figure_is_drawn_once_into_the_pixels_savefig_gives(tmp_path):
    """A figure with constrained layout: savefig draws it twice (lays it out, then paints it);
    save_figure and a notebook's PNG draw it once, pixel for pixel the same."""
    def confusion():
        return plots.confusion_figure([[50, 3, 1], [4, 40, 2], [0, 6, 44]], ["a", "b", "c"], title="three classes")

    reference = confusion()
    draws = []
    reference.canvas.mpl_connect("draw_event", lambda event: draws.append(event))
    reference.savefig(tmp_path / "savefig.png", dpi=plots.DPI)
    assert len(draws) == 2

    figure = confusion()
    draws.clear()
    figure.canvas.mpl_connect("draw_event", lambda event: draws.append(event))
    canvas, dpi = figure.canvas, figure.dpi
    plots.save_figure(figure, tmp_path / "once.png")
    assert len(draws) == 1
    assert figure.canvas is canvas and figure.dpi == dpi  # the figure is as it was

    with Image.open(tmp_path / "savefig.png") as expected, Image.open(tmp_path / "once.png") as drawn:
        assert np.array_equal(np.asarray(expected), np.asarray(drawn))
    with Image.open(io.BytesIO(confusion()._repr_png_())) as shown, Image.open(tmp_path / "once.png") as drawn:
        assert np.array_equal(np.asarray(shown), np.asarray(drawn))


def test_the_mistake_strips_show_each_image_under_its_caption_beside_its_model_s_name():
    rng = np.random.default_rng(0)
    strips = [("raw-1", rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), ["7 → 1", "4 → 9", "3 → 5"]),
              ("cnn-1", np.zeros((0, 28, 28), np.uint8), []),
              ("hog-1", rng.integers(0, 256, (9, 28, 28), dtype=np.uint8), [f"{d} → 0" for d in range(9)])]
    figure = plots.mistake_strips_figure(strips, columns=8)
    (axis,) = figure.axes
    texts = {text.get_text(): text.get_position() for text in axis.texts}
    assert list(texts) == ["raw-1", "7 → 1", "4 → 9", "3 → 5", "cnn-1", "hog-1"] + [f"{d} → 0" for d in range(8)]
    (mosaic,) = axis.get_images()
    shown = mosaic.get_array()
    windows = np.lib.stride_tricks.sliding_window_view(shown.filled(-1), (28, 28))

    def corner(image: np.ndarray) -> tuple[int, int]:
        (y,), (x,) = np.nonzero((windows == image).all(axis=(2, 3)))
        return int(x), int(y)

    raw, hog = ([corner(image) for image in images[:8]] for _, images, _ in (strips[0], strips[2]))
    assert len({y for _, y in raw}) == 1 and len({y for _, y in hog}) == 1 and raw[0][1] < hog[0][1]
    assert [x for x, _ in raw] == sorted(x for x, _ in raw) and [x for x, _ in hog] == sorted(x for x, _ in hog)
    assert [x for x, _ in raw] == [x for x, _ in hog][:3]  # the columns line up
    for (x, y), caption in zip(raw + hog, strips[0][2] + strips[2][2]):  # centred above its image (rows go down)
        caption_x, caption_y = texts[caption]
        assert caption_x == x + 13.5 and caption_y < y
    for name, (_, y) in (("raw-1", raw[0]), ("hog-1", hog[0])):  # left of the row, level with its images
        name_x, name_y = texts[name]
        assert name_x < raw[0][0] and name_y == y + 13.5
    assert raw[0][1] < texts["cnn-1"][1] < hog[0][1]
    assert shown.mask.sum() == shown.size - 11 * 28 * 28  # nothing shows between and beside the images
    assert figure._repr_png_().startswith(b"\x89PNG")
