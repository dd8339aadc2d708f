"""Plots are matplotlib Figures a notebook shows inline and a PNG file a person can open."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from shallowdeep import plots


def test_the_hog_figure_is_a_figure_with_one_column_per_image(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    images[:, 8:20, 12:16] = 255
    figure = plots.hog_figure(images, labels=[1, 1, 1])
    assert isinstance(figure, Figure) and len(figure.axes) == 6
    assert figure._repr_png_().startswith(b"\x89PNG")  # how Jupyter shows it
    path = plots.save_figure(figure, tmp_path / "figures" / "hog.png")
    with Image.open(path) as png:
        assert png.format == "PNG"
        width, height = png.size
    assert width > height > 100


def test_figures_show_their_numbers(tmp_path):
    figure = plots.confusion_figure([[5, 1], [2, 7]], ["NORMAL", "PNEUMONIA"], title="mine")
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts == ["5", "1", "2", "7"] and figure.axes[0].get_title() == "mine"
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
