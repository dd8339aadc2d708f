"""Arrays as the small PNG pictures the page shows: grey images, colour-mapped values, mosaics.

Pictures travel inside the JSON answers as ``data:`` URLs, so the page shows them without asking
the server (or anyone else) for anything more.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib import colormaps
from PIL import Image

#: Grey between the tiles of a mosaic (RGB).
_GAP = (200, 200, 200)


def png_bytes(pixels: np.ndarray) -> bytes:
    """uint8 pixels, (h, w) grey, (h, w, 3) RGB or (h, w, 4) RGBA, as a PNG file."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def png_data_url(pixels: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")


def coloured(values: np.ndarray, colormap: str, low: float, high: float) -> np.ndarray:
    """``values`` mapped linearly from [low, high] onto a matplotlib colour map: uint8 RGB."""
    span = high - low if high > low else 1.0
    scaled = np.clip((np.asarray(values, dtype=np.float64) - low) / span, 0.0, 1.0)
    return colormaps[colormap](scaled, bytes=True)[..., :3]


def mosaic(tiles: np.ndarray, columns: int | None = None) -> np.ndarray:
    """RGB tiles (n, h, w, 3) in a grid, row by row, one grey pixel between them: uint8 RGB."""
    count, height, width, _ = tiles.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = -(-count // columns)
    grid = np.empty((rows * (height + 1) - 1, columns * (width + 1) - 1, 3), dtype=np.uint8)
    grid[:] = _GAP
    for index, tile in enumerate(tiles):
        top, left = (index // columns) * (height + 1), (index % columns) * (width + 1)
        grid[top:top + height, left:left + width] = tile
    return grid


def feature_map_mosaic(maps: np.ndarray) -> np.ndarray:
    """One convolution's output (h, w, channels), each channel a tile, on one scale for the layer
    (0 to the layer's largest value), so a channel that stays dark is one this digit leaves unlit."""
    maps = np.asarray(maps, dtype=np.float32)
    high = float(maps.max())
    tiles = coloured(np.moveaxis(maps, -1, 0), "viridis", min(0.0, float(maps.min())), high)
    return mosaic(tiles)


def filter_mosaic(kernel: np.ndarray) -> np.ndarray:
    """A first convolution's kernel (k, k, in, filters), one tile per filter and input channel,
    on a symmetric scale: red weights add the pixel's brightness, blue ones subtract it."""
    kernel = np.asarray(kernel, dtype=np.float32)
    size_r, size_c, channels, filters = kernel.shape
    tiles = np.moveaxis(kernel.reshape(size_r, size_c, channels * filters), -1, 0)
    bound = float(np.abs(kernel).max()) or 1.0
    return mosaic(coloured(tiles, "RdBu_r", -bound, bound), columns=min(filters, 8) if channels == 1 else filters)


def heatmap_overlay(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A heat map in [0, 1] (any resolution) stretched bilinearly to ``size`` (height, width), as
    RGBA to lay over the image: the "jet" colours, transparent where the map is 0."""
    stretched = Image.fromarray(np.asarray(heatmap, dtype=np.float32), mode="F").resize(
        (size[1], size[0]), Image.Resampling.BILINEAR)
    values = np.clip(np.asarray(stretched, dtype=np.float32), 0.0, 1.0)
    rgba = np.empty((*size, 4), dtype=np.uint8)
    rgba[..., :3] = coloured(values, "jet", 0.0, 1.0)
    rgba[..., 3] = np.round(values * 120).astype(np.uint8)  # at most 47 % opaque: the image stays visible
    return rgba
