"""Images from users (a file for ``predict``, bytes for the explorer), decoded safely.

A PNG of a few hundred kilobytes can declare 20,000 x 20,000 pixels and take gigabytes to decode
(a "decompression bomb"). The image's size is read from its header first and checked against a
pixel limit of shallowdeep's own, :data:`MAX_PIXELS`, before anything is decoded; Pillow's own
bomb warnings and errors are never shown to a user. Every failure is one :class:`DataError` naming
the image, what was found, the limit and what to do.

The result is one grey channel, uint8 (:func:`to_gray`, which the chest X-ray loader uses too):
16-bit images are scaled to 0-255, not clipped; colour is averaged to luminance (ITU-R 601-2,
Pillow's ``"L"``), a phone photo is turned upright by its EXIF orientation, and a transparent
background is filled with the colour that contrasts with the ink (a light stroke on transparency
gets black, a dark one white), so that a drawing reads the same whatever its editor saved.
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
    return to_gray(ImageOps.exif_transpose(image), name=shown)


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


def to_gray(image: Image.Image, *, name: str = "the image") -> np.ndarray:
    """``image``, in any mode Pillow opens, as a 2-D uint8 array of grey levels (0 black, 255 white).

    Every bit depth is scaled onto 0-255 by the range of its type, never clipped:

    - 16-bit grey (modes ``"I;16"``, ``"I;16B"``, ...; and ``"I"``, as older Pillows open
      16-bit PNGs): the high byte, ``value >> 8`` (0 -> 0, 65535 -> 255). Pillow reduces 16-bit
      colour and grey+alpha PNGs to 8 bits the same way, so a 16-bit picture reads alike in grey
      and in colour; and an 8-bit image widened to 16 bits by either convention (``v * 257``, the
      PNG specification's, or ``v << 8``) reads back exactly, which rounding ``value / 257`` would
      not do for the second. An ``"I"`` image with values outside 0-65535 is not a 16-bit
      picture and raises :class:`DataError`.
    - float (``"F"``): 0.0 black to 1.0 white, as matplotlib and scikit-image store them, times
      255 and rounded. A float image has no range of its own to scale by, so values outside
      [0, 1] (or NaN) raise :class:`DataError` rather than be guessed at.
    - 8 bits or fewer (``"1"``, ``"L"``, ``"P"``, ``"LA"``, ``"RGB"``, ``"RGBA"``, ``"CMYK"``):
      colour becomes luminance and transparency is filled, as the module says.

    ``name`` is how errors refer to the image.
    """
    image = _to_8_bits(image, name)
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


def _to_8_bits(image: Image.Image, shown: str) -> Image.Image:
    """A 16-bit, 32-bit or float grey image as ``"L"`` by :func:`to_gray`'s rule; others unchanged.

    Pillow's own ``convert("L")`` clips these modes at 255, turning a 16-bit X-ray white.
    """
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image)  # uint16 (any byte order), or int32 for "I"
        if image.mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            raise DataError(
                f"{shown}: 32-bit grey levels from {values.min():,} to {values.max():,}; shallowdeep reads "
                f"32-bit integer images as 16-bit (0 to 65,535). Save it as an 8-bit or 16-bit PNG"
            )
        return Image.fromarray((values >> 8).astype(np.uint8))
    if image.mode == "F":
        values = np.asarray(image)
        finite = bool(np.isfinite(values).all())
        if values.size and not (finite and values.min() >= 0.0 and values.max() <= 1.0):
            found = f"from {values.min():g} to {values.max():g}" if finite else "that are not numbers (NaN or infinite)"
            raise DataError(
                f"{shown}: floating-point grey levels {found}; shallowdeep reads float images as 0.0 (black) "
                f"to 1.0 (white) only. Save it as an 8-bit or 16-bit PNG"
            )
        return Image.fromarray(np.round(values * 255.0).astype(np.uint8))
    return image


def resize_gray(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (uint8, 2-D) resized to ``size`` (height, width) bilinearly, as the datasets were."""
    if image.shape == tuple(size):
        return image
    resized = Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)
