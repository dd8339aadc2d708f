"""Images from users (a file for ``predict``, bytes for the explorer), decoded safely.

A PNG of a few hundred kilobytes can declare 20,000 x 20,000 pixels and take gigabytes to decode
(a "decompression bomb"). The image's size is read from its header first and checked against a
pixel limit of shallowdeep's own, :data:`MAX_PIXELS`, before anything is decoded; Pillow's own
bomb warnings and errors are never shown to a user. Every failure is one :class:`DataError` naming
the image, what was found, the limit and what to do.

The result is one grey channel, uint8: colour is averaged to luminance (ITU-R 601-2, Pillow's
``"L"``), a phone photo is turned upright by its EXIF orientation, and a transparent background is
filled with the colour that contrasts with the ink (a light stroke on transparency gets black, a
dark one white), so that a drawing reads the same whatever its editor saved.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shallowdeep.errors import DataError

#: The largest image read, in pixels: 50 megapixels (a 12-megapixel phone photo, a 3,000 x 3,000
#: chest X-ray and a 7,000 x 7,000 scan all fit; a decompression bomb does not).
MAX_PIXELS = 50_000_000
#: Formats accepted from users.
FORMATS = ("PNG", "JPEG")

# Pillow checks its own bomb limit while opening; the limit is a module global, so it is lifted
# for the header-only open below under a lock, and our limit is applied instead.
_PILLOW_LIMIT = threading.Lock()


def _name(source: str | os.PathLike | bytes, name: str | None) -> str:
    if name:
        return name
    return "the image" if isinstance(source, (bytes, bytearray)) else str(source)


def read_gray_image(source: str | os.PathLike | bytes, *, name: str | None = None,
                    max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A PNG or JPEG file (a path) or its bytes, as a 2-D uint8 array of grey levels, any size.

    ``name`` is how errors refer to the image (default: its path, or "the image" for bytes).
    Raises :class:`DataError` for a missing file, no image, another format, no pixels, or more
    than ``max_pixels`` pixels.
    """
    shown = _name(source, name)
    if not isinstance(source, (bytes, bytearray)):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{shown}: no such file")
        source = path.read_bytes()
    if not source:
        raise DataError(f"{shown}: the file is empty (0 bytes); give a PNG or JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _PILLOW_LIMIT:
                saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    image = Image.open(io.BytesIO(source), formats=FORMATS)
                finally:
                    Image.MAX_IMAGE_PIXELS = saved
            _check_size(image, shown, max_pixels)
            image.load()
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{shown}: not a readable PNG or JPEG image ({error})") from None
    return _to_gray(ImageOps.exif_transpose(image))


def _check_size(image: Image.Image, shown: str, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise DataError(f"{shown}: the image has no pixels ({width} x {height})")
    if width * height > max_pixels:
        factor = int(np.ceil(np.sqrt(width * height / max_pixels)))
        raise DataError(
            f"{shown}: the image is {width:,} x {height:,} pixels ({width * height / 1e6:,.1f} megapixels); "
            f"shallowdeep reads images of at most {max_pixels / 1e6:g} megapixels. Resize it first, e.g. "
            f"to {width // factor:,} x {height // factor:,} (ImageMagick: `convert IN -resize {100 // factor}% OUT`; "
            f"Pillow: `Image.open(IN).reduce({factor}).save(OUT)`)"
        )


def _to_gray(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        gray = np.asarray(image.convert("RGB").convert("L"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3]
        if alpha.min() < 1.0:
            opaque = alpha > 0.5
            ink_is_light = opaque.any() and float(gray[opaque].mean()) > 0.5
            background = 0.0 if ink_is_light else 1.0
            gray = gray * alpha + background * (1.0 - alpha)
        return np.round(gray * 255.0).astype(np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def resize_gray(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (uint8, 2-D) resized to ``size`` (height, width) bilinearly, as the datasets were."""
    if image.shape == tuple(size):
        return image
    resized = Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)
