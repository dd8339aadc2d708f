"""Images from users: any PNG or JPEG read as grey levels; bombs, junk and empty files refused clearly."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from shallowdeep.data.images import MAX_PIXELS, read_gray_image
from shallowdeep.errors import DataError


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    bomb = tmp_path / "huge.png"
    Image.new("L", (20_000, 20_000)).save(bomb, optimize=True)  # 400 megapixels, a few hundred KB on disk
    assert bomb.stat().st_size < 1_000_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning reaches the user either
        with pytest.raises(DataError) as caught:
            read_gray_image(bomb)
    message = str(caught.value)
    assert message.startswith(f"{bomb}: the image is 20,000 x 20,000 pixels (400.0 megapixels)")
    assert f"at most {MAX_PIXELS / 1e6:g} megapixels" in message and "-resize" in message


def test_colour_becomes_grey_and_size_is_kept():
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[..., 1] = 200
    gray = read_gray_image(_png(rgb))
    assert gray.shape == (30, 40) and gray.dtype == np.uint8 and gray[0, 0] == round(0.587 * 200)


@pytest.mark.parametrize(("ink", "background"), [(0, 255), (255, 0)])
def test_a_transparent_background_is_filled_to_contrast_with_the_ink(ink, background):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[5:15, 9:11] = [ink, ink, ink, 255]  # a stroke on a transparent canvas
    gray = read_gray_image(_png(rgba, "RGBA"))
    assert gray[0, 0] == background and gray[10, 10] == ink


@pytest.mark.parametrize(("payload", "message"), [
    (b"", "the file is empty (0 bytes)"),
    (b"this is not an image", "not a readable PNG or JPEG image"),
])
def test_what_is_not_an_image_is_named(payload, message):
    with pytest.raises(DataError, match="^" + re.escape(f"upload.png: {message}")):
        read_gray_image(payload, name="upload.png")


def test_another_format_is_refused(tmp_path):
    path = tmp_path / "digit.gif"
    Image.new("L", (28, 28)).save(path)
    with pytest.raises(DataError, match="not a readable PNG or JPEG image"):
        read_gray_image(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nothing.png: no such file"):
        read_gray_image(tmp_path / "nothing.png")
