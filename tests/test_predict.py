"""`predict` on image files: a 16-bit picture is predicted as its 8-bit version is, not as a white page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shallowdeep.predict import predict_images
from shallowdeep.runs import Run

#: A chest X-ray CNN of version 0.1.0 (32 x 32): a trained run without training one.
TINY_XRAY = Path(__file__).parent / "fixtures" / "runs-0.1.0" / "tiny-xray"


def test_a_16_bit_image_is_predicted_as_its_8_bit_version_is(tmp_path):
    run = Run.open(next(TINY_XRAY.iterdir()))
    rng = np.random.default_rng(0)
    ramp = np.linspace(2_000, 60_000, 120)[:, None]  # a vertical ramp with noise in every bit
    wide = (ramp + rng.integers(0, 5_000, (120, 100))).astype(np.uint16)
    sixteen, eight = tmp_path / "scan-16.png", tmp_path / "scan-8.png"
    Image.fromarray(wide).save(sixteen)
    Image.fromarray(np.round(wide / 257).astype(np.uint8)).save(eight)  # as an image editor saves it in 8 bits
    assert Image.open(sixteen).mode == "I;16"
    from_sixteen, from_eight = predict_images(run, [sixteen, eight])
    assert np.abs(from_sixteen.model_input.astype(int) - from_eight.model_input).max() <= 1  # rounding apart
    assert 100 < from_sixteen.model_input.mean() < 150  # clipped, it was almost all white
    assert from_sixteen.predicted == from_eight.predicted
    for name, probability in from_eight.probabilities.items():
        assert from_sixteen.probabilities[name] == pytest.approx(probability, abs=0.01)
