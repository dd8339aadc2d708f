"""Histograms of oriented gradients (HOG), vectorised over a whole batch of images.

The numbers are those of ``skimage.feature.hog`` (the lab's reference) for grayscale images, to
floating-point rounding; only the loop structure differs. For an image ``I`` (as float64):

1. Gradients by central differences, zero on the border rows/columns::

       g_r[i, j] = I[i+1, j] - I[i-1, j]        g_c[i, j] = I[i, j+1] - I[i, j-1]

2. Magnitude ``m = hypot(g_c, g_r)`` and unsigned orientation
   ``theta = degrees(arctan2(g_r, g_c)) mod 180`` in [0, 180).
3. Cells of ``p_r x p_c`` pixels tile the image from the top-left corner; the
   ``H mod p_r`` last rows and ``W mod p_c`` last columns belong to no cell. Bin ``k`` of the
   ``o`` orientation bins covers ``[k * 180/o, (k+1) * 180/o)``; a cell's histogram is

       h[k] = (1 / (p_r p_c)) * sum of m over the cell's pixels whose theta falls in bin k.

4. Blocks of ``b_r x b_c`` cells, one at every cell position (stride one cell), are normalised
   with ``eps = 1e-5`` (``v`` is the block's concatenated histograms):

   - ``L1``:      v / (||v||_1 + eps)
   - ``L1-sqrt``: sqrt(v / (||v||_1 + eps))
   - ``L2``:      v / sqrt(||v||_2^2 + eps^2)
   - ``L2-Hys``:  L2, then clipped at 0.2, then L2 again (Lowe's SIFT normalisation)

5. The feature vector concatenates the blocks in row-major order, each block as
   (cell row, cell column, orientation).

Feature size: ``(H // p_r - b_r + 1) * (W // p_c - b_c + 1) * b_r * b_c * o``; with 1x1 blocks on
MNIST that is ``(28 // p)^2 * o``. The lab's ``28 * 28 * o / p^2`` only equals it when ``p``
divides 28 (p = 5 gives 25 * o features, not 31.36 * o).

For uint8 images every gradient component is an integer in [-255, 255], so the orientation bin
and magnitude of each of the 511^2 possible gradients are computed once (with exactly the
floating-point operations of step 2) and looked up: the exact same values, without evaluating
``arctan2`` per pixel.

Reference: N. Dalal and B. Triggs, "Histograms of oriented gradients for human detection",
CVPR 2005; scikit-image's ``skimage/feature/_hog.py``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from shallowdeep.cache import cached_arrays
from shallowdeep.memory import aligned_empty

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
#: Bump whenever the numbers this module computes change: cached features carry it in their key.
HOG_VERSION = 1
_EPS = 1e-5
_MAX_GRADIENT = 255


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a positive integer or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def hog_feature_size(
    image_shape: tuple[int, int],
    orientations: int = 8,
    pixels_per_cell: int | tuple[int, int] = (4, 4),
    cells_per_block: int | tuple[int, int] = (1, 1),
) -> int:
    """The length of the HOG vector of one image of ``image_shape`` (see the module docstring)."""
    cell_rows, cell_cols = _cell_grid(image_shape, pixels_per_cell)
    block_rows, block_cols = _pair(cells_per_block, "cells_per_block")
    return (
        (cell_rows - block_rows + 1) * (cell_cols - block_cols + 1)
        * block_rows * block_cols * orientations
    )


def _cell_grid(image_shape, pixels_per_cell) -> tuple[int, int]:
    p_r, p_c = _pair(pixels_per_cell, "pixels_per_cell")
    height, width = image_shape
    if p_r > height or p_c > width:
        raise ValueError(
            f"pixels_per_cell {(p_r, p_c)} is larger than the {height}x{width} image: no cell fits"
        )
    return height // p_r, width // p_c


def orientation_bins(
    g_row: np.ndarray, g_col: np.ndarray, orientations: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bin index (``orientations`` means "in no bin") and magnitude of each gradient.

    Uses the operations of scikit-image's ``hog_histograms`` in float64, and its bin test
    ``k * 180/o <= theta < (k+1) * 180/o``, so that a gradient on a bin edge lands where it does there.
    """
    g_row = np.asarray(g_row, dtype=np.float64)
    g_col = np.asarray(g_col, dtype=np.float64)
    magnitude = np.hypot(g_col, g_row)
    theta = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    width = 180.0 / orientations
    bins = np.floor(theta / width).astype(np.int64)
    bins -= theta < width * bins
    bins += theta >= width * (bins + 1)
    bins[(bins < 0) | (bins >= orientations)] = orientations
    return bins, magnitude


@functools.lru_cache(maxsize=16)
def _gradient_table(orientations: int) -> tuple[np.ndarray, np.ndarray]:
    """Bins and magnitudes of every integer gradient, flat, indexed by (g_r + 255) * 511 + g_c + 255."""
    values = np.arange(-_MAX_GRADIENT, _MAX_GRADIENT + 1, dtype=np.float64)
    g_row, g_col = np.meshgrid(values, values, indexing="ij")
    bins, magnitude = orientation_bins(g_row, g_col, orientations)
    return bins.ravel().astype(np.int32), magnitude.ravel()


_SIDE = 2 * _MAX_GRADIENT + 1
#: The table index of the zero gradient, which adds nothing to any histogram (its magnitude is 0).
_ZERO_GRADIENT = _MAX_GRADIENT * _SIDE + _MAX_GRADIENT


def _gradient_codes(images: np.ndarray) -> np.ndarray:
    """For uint8 images: each pixel's gradient as its index in :func:`_gradient_table`."""
    pixels = images.astype(np.int32)
    codes = np.full(pixels.shape, _ZERO_GRADIENT, dtype=np.int32)
    codes[:, 1:-1, :] += (pixels[:, 2:, :] - pixels[:, :-2, :]) * _SIDE
    codes[:, :, 1:-1] += pixels[:, :, 2:] - pixels[:, :, :-2]
    return codes


def _float_gradients(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = images.astype(np.float64, copy=False)
    g_row = np.zeros(pixels.shape)
    g_col = np.zeros(pixels.shape)
    g_row[:, 1:-1, :] = pixels[:, 2:, :] - pixels[:, :-2, :]
    g_col[:, :, 1:-1] = pixels[:, :, 2:] - pixels[:, :, :-2]
    return g_row, g_col


@functools.lru_cache(maxsize=4)
def _first_bins(n: int, cell_rows: int, cell_cols: int, p_r: int, p_c: int, n_bins: int) -> np.ndarray:
    """For each pixel (raster order, cells only), the flat index of bin 0 of its image's cell."""
    rows = np.arange(cell_rows * p_r) // p_r
    cols = np.arange(cell_cols * p_c) // p_c
    cell_of_pixel = rows[:, None] * cell_cols + cols[None, :]
    first = (np.arange(n)[:, None, None] * (cell_rows * cell_cols) + cell_of_pixel) * n_bins
    return first.ravel()


def cell_histograms(
    images: np.ndarray, orientations: int = 8, pixels_per_cell: int | tuple[int, int] = (4, 4)
) -> np.ndarray:
    """Unnormalised orientation histograms, float64 of shape (n, cell rows, cell cols, orientations)."""
    images = np.asarray(images)
    n, height, width = images.shape
    cell_rows, cell_cols = _cell_grid((height, width), pixels_per_cell)
    p_r, p_c = _pair(pixels_per_cell, "pixels_per_cell")
    in_cells = (slice(None), slice(0, cell_rows * p_r), slice(0, cell_cols * p_c))

    if images.dtype == np.uint8:
        codes = _gradient_codes(images)[in_cells].ravel()
        voting = np.flatnonzero(codes != _ZERO_GRADIENT)
        table_bins, table_magnitude = _gradient_table(orientations)
        codes = codes[voting]
        bins, magnitude = table_bins[codes], table_magnitude[codes]
    else:
        g_row, g_col = _float_gradients(images)
        bins, magnitude = orientation_bins(g_row[in_cells], g_col[in_cells], orientations)
        bins, magnitude = bins.ravel(), magnitude.ravel()
        voting = slice(None)

    # Each pixel votes its magnitude into (image, cell, bin); bincount adds the votes in raster
    # order, the order scikit-image sums them in. The extra bin collects gradients in no bin.
    n_bins = orientations + 1
    first_bin = _first_bins(n, cell_rows, cell_cols, p_r, p_c, n_bins)[voting]
    votes = np.bincount(
        first_bin + bins, weights=magnitude, minlength=n * cell_rows * cell_cols * n_bins
    )
    histograms = votes.reshape(n, cell_rows, cell_cols, n_bins)[..., :orientations]
    return histograms / (p_r * p_c)


def normalize_blocks(
    histograms: np.ndarray, cells_per_block: int | tuple[int, int] = (1, 1), block_norm: str = "L2-Hys"
) -> np.ndarray:
    """Blocks of cells normalised as in the module docstring: (n, block rows, block cols, b_r, b_c, o)."""
    if block_norm not in BLOCK_NORMS:
        raise ValueError(f"block_norm {block_norm!r} is not one of {', '.join(BLOCK_NORMS)}")
    b_r, b_c = _pair(cells_per_block, "cells_per_block")
    n, cell_rows, cell_cols, _ = histograms.shape
    if b_r > cell_rows or b_c > cell_cols:
        raise ValueError(
            f"cells_per_block {(b_r, b_c)} needs at least that many cells, the image has "
            f"{cell_rows}x{cell_cols}; use smaller blocks or smaller cells"
        )
    windows = sliding_window_view(histograms, (b_r, b_c), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
    # One row per block holding its b_r * b_c * o values, so each norm is a sum over the last axis.
    blocks = windows.reshape(*windows.shape[:3], -1)
    if block_norm in ("L1", "L1-sqrt"):
        out = blocks / (np.abs(blocks).sum(axis=-1, keepdims=True) + _EPS)
        if block_norm == "L1-sqrt":
            out = np.sqrt(out)
    else:
        out = blocks / np.sqrt((blocks**2).sum(axis=-1, keepdims=True) + _EPS**2)
        if block_norm == "L2-Hys":
            out = np.minimum(out, 0.2)
            out = out / np.sqrt((out**2).sum(axis=-1, keepdims=True) + _EPS**2)
    return out.reshape(windows.shape)


def hog(
    images: np.ndarray,
    orientations: int = 8,
    pixels_per_cell: int | tuple[int, int] = (4, 4),
    cells_per_block: int | tuple[int, int] = (1, 1),
    block_norm: str = "L2-Hys",
    *,
    batch_size: int = 1024,
    workers: int | None = None,
) -> np.ndarray:
    """HOG feature vectors of a batch of grayscale images, as ``skimage.feature.hog`` computes them.

    Parameters
    ----------
    images
        (n, height, width) array, uint8 (fast path) or any real dtype; a single (height, width)
        image gives a 1-D vector.
    orientations
        Number of orientation bins ``o`` over [0, 180) degrees.
    pixels_per_cell, cells_per_block
        Cell size in pixels and block size in cells, an int or a (rows, cols) pair.
    block_norm
        ``"L1"``, ``"L1-sqrt"``, ``"L2"`` or ``"L2-Hys"`` (see the module docstring).
    batch_size, workers
        Images are processed ``batch_size`` at a time, so memory stays bounded for any ``n``,
        by ``workers`` threads (default: one per CPU; NumPy releases the GIL in the heavy steps).

    Returns
    -------
    float32 array of shape (n, d) with ``d = hog_feature_size(...)``.
    """
    images = np.asarray(images)
    if images.ndim == 2:
        return hog(images[None], orientations, pixels_per_cell, cells_per_block, block_norm)[0]
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, height, width), got {images.shape}")
    if not isinstance(orientations, (int, np.integer)) or orientations < 1:
        raise ValueError(f"orientations must be a positive integer, got {orientations!r}")
    size = hog_feature_size(images.shape[1:], orientations, pixels_per_cell, cells_per_block)
    features = aligned_empty((len(images), size), np.float32)  # read in place by the training loop

    def run(start: int) -> None:
        chunk = images[start: start + batch_size]
        histograms = cell_histograms(chunk, orientations, pixels_per_cell)
        blocks = normalize_blocks(histograms, cells_per_block, block_norm)
        features[start: start + len(chunk)] = blocks.reshape(len(chunk), -1)

    starts = range(0, len(images), batch_size)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(starts) == 1:
        for start in starts:
            run(start)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, starts))
    return features


def images_fingerprint(images: np.ndarray) -> str:
    """SHA-256 of an image array's shape, dtype and bytes: the identity of a dataset slice."""
    images = np.ascontiguousarray(images)
    digest = hashlib.sha256(f"{images.shape}{images.dtype.str}".encode())
    digest.update(memoryview(images).cast("B"))
    return digest.hexdigest()


def cached_hog(
    images: np.ndarray,
    dataset: str,
    orientations: int = 8,
    pixels_per_cell: int | tuple[int, int] = (4, 4),
    cells_per_block: int | tuple[int, int] = (1, 1),
    block_norm: str = "L2-Hys",
    *,
    cache: bool = True,
) -> np.ndarray:
    """:func:`hog` of ``images``, kept on disk so that the same setting is computed only once.

    The cache key holds ``dataset`` (a readable name such as ``"mnist-train"``), the fingerprint
    of the images themselves, every parameter and :data:`HOG_VERSION`; a corrupt or stale entry is
    recomputed (see :mod:`shallowdeep.cache`).
    """
    key = {
        "feature": "hog",
        "version": HOG_VERSION,
        "dataset": dataset,
        "images": images_fingerprint(images),
        "orientations": int(orientations),
        "pixels_per_cell": list(_pair(pixels_per_cell, "pixels_per_cell")),
        "cells_per_block": list(_pair(cells_per_block, "cells_per_block")),
        "block_norm": block_norm,
    }

    def compute() -> dict[str, np.ndarray]:
        return {"features": hog(images, orientations, pixels_per_cell, cells_per_block, block_norm)}

    return cached_arrays("features", key, compute, enabled=cache)["features"]


def hog_image(
    image: np.ndarray,
    orientations: int = 8,
    pixels_per_cell: int | tuple[int, int] = (4, 4),
    *,
    scale: int = 8,
) -> np.ndarray:
    """A picture of the cell histograms of one image, ``scale`` times its size, float64.

    As with ``skimage.feature.hog(..., visualize=True)``, each cell shows one line per orientation
    bin through its centre, perpendicular to the bin's middle gradient direction (so along the
    edge that produced it), as bright as the bin's (unnormalised) value. Drawing at ``scale``
    times the resolution keeps the lines readable for 4x4-pixel cells.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"hog_image takes one (height, width) image, got shape {image.shape}")
    histograms = cell_histograms(image[None], orientations, pixels_per_cell)[0]
    p_r, p_c = _pair(pixels_per_cell, "pixels_per_cell")
    cell_rows, cell_cols = histograms.shape[:2]
    picture = np.zeros((image.shape[0] * scale, image.shape[1] * scale))
    centre_rows = (np.arange(cell_rows) * p_r * scale + p_r * scale // 2)[:, None]
    centre_cols = (np.arange(cell_cols) * p_c * scale + p_c * scale // 2)[None, :]
    radius = min(p_r, p_c) * scale / 2 - 1
    steps = np.linspace(-radius, radius, int(2 * radius) + 1)
    for bin_index in range(orientations):
        middle = np.pi * (bin_index + 0.5) / orientations
        offsets = np.unique(
            np.stack([np.rint(steps * np.cos(middle)), np.rint(-steps * np.sin(middle))], axis=1).astype(int),
            axis=0,
        )
        for d_row, d_col in offsets:
            picture[centre_rows + d_row, centre_cols + d_col] += histograms[:, :, bin_index]
    return picture
