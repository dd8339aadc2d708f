"""Images from users: any PNG or JPEG read as grey levels, 16-bit scaled and not clipped; bombs, junk and
empty files refused clearly."""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from shallowdeep.data.images import MAX_PIXELS, read_gray_image, to_gray
from shallowdeep.errors import DataError


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_16_bit_colour(rgb: np.ndarray) -> bytes:
    """A PNG of 16 bits per channel, RGB: Pillow reads these but cannot write them."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    height, width = rgb.shape[:2]
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in rgb)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


#: Every grey level once, left to right, 8 rows.
GRADIENT = np.tile(np.arange(256, dtype=np.uint8), (8, 1))


def test_a_16_bit_gradient_is_scaled_to_0_255_not_clipped(tmp_path):
    path = tmp_path / "gradient-16.png"
    Image.fromarray(np.tile(np.linspace(0, 65535, 1000).round().astype(np.uint16), (8, 1))).save(path)
    assert Image.open(path).mode.startswith("I")  # 16-bit PNG, as Pillow opens it
    gray = read_gray_image(path)
    assert gray.dtype == np.uint8 and gray.shape == (8, 1000)
    assert np.all(np.diff(gray.astype(int), axis=1) >= 0)  # monotone, as the gradient was
    assert gray.min() == 0 and gray.max() == 255 and abs(gray.mean() - 127.5) < 1
    assert np.mean(gray == 255) < 0.01  # clipped, it was 99.6 % white
    eight_bit = tmp_path / "gradient-8.png"
    Image.fromarray(GRADIENT).save(eight_bit)
    np.testing.assert_array_equal(read_gray_image(eight_bit), GRADIENT)


@pytest.mark.parametrize("widen", [lambda v: v * 257, lambda v: v << 8], ids=["times 257", "shifted by 8"])
def test_an_8_bit_image_widened_to_16_bits_reads_back_exactly(widen):
    assert Image.open(io.BytesIO(_png(widen(GRADIENT.astype(np.uint16))))).mode == "I;16"
    np.testing.assert_array_equal(read_gray_image(_png(widen(GRADIENT.astype(np.uint16)))), GRADIENT)


def test_16_bit_colour_reads_as_the_same_picture_in_16_bit_grey():
    wide = np.random.default_rng(0).integers(0, 65536, (8, 300), dtype=np.uint16)
    colour = read_gray_image(_png_16_bit_colour(np.dstack([wide] * 3)))
    np.testing.assert_array_equal(read_gray_image(_png(wide)), colour)


@pytest.mark.parametrize("mode", ["L", "P", "LA", "RGB", "RGBA", "I;16", "I;16B", "I", "F"])
def test_every_mode_pillow_gives_is_scaled_by_the_range_of_its_type(mode):
    if mode.startswith("I;16"):
        image = Image.frombytes(mode, (256, 8), (GRADIENT.astype(np.uint16) * 257).astype(
            ">u2" if mode == "I;16B" else "<u2").tobytes())
    elif mode == "I":
        image = Image.fromarray(GRADIENT.astype(np.int32) * 257)
    elif mode == "F":
        image = Image.fromarray(GRADIENT.astype(np.float32) / 255)
    else:
        image = Image.fromarray(GRADIENT).convert(mode)
    assert image.mode == mode
    np.testing.assert_array_equal(to_gray(image), GRADIENT)


def test_a_1_bit_png_is_black_and_white():
    white = GRADIENT >= 128
    assert Image.open(io.BytesIO(_png(white))).mode == "1"
    np.testing.assert_array_equal(read_gray_image(_png(white)), np.where(white, 255, 0))


@pytest.mark.parametrize(("values", "message"), [
    (np.array([[-1, 70_000]], np.int32), "32-bit grey levels from -1 to 70,000"),
    (np.array([[0.0, 255.0]], np.float32), "floating-point grey levels from 0 to 255"),
    (np.array([[np.nan, 0.5]], np.float32), "floating-point grey levels that are not numbers"),
])
def test_grey_levels_outside_their_type_s_range_are_refused_not_clipped(values, message):
    with pytest.raises(DataError, match=re.escape(f"scan.png: {message}")):
        to_gray(Image.fromarray(values), name="scan.png")


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
