"""Contrast-limited adaptive histogram equalisation (CLAHE) of grey images, before a model sees them.

Global equalisation (:class:`shallowdeep.models.HistogramEqualization`) maps every grey level
through the histogram of the whole image. CLAHE (Pizer et al. 1987, "Adaptive histogram
equalization and its variations"; Zuiderveld 1994, "Contrast Limited Adaptive Histogram
Equalization", *Graphics Gems IV*) does it per tile of a ``tiles x tiles`` grid:

- each tile's histogram is clipped so that no grey level holds more than ``clip_limit`` times the
  tile's pixel count, and the excess is spread evenly over all levels; this bounds the slope of
  the tile's mapping, hence how much it can amplify noise in a flat region;
- each pixel's new level is its tile's clipped cumulative histogram at its old level, blended
  bilinearly with the mappings of the neighbouring tiles, so that no tile edge shows.

What is left is local contrast rather than the exposure and the detector's curve: the usual
preprocessing of chest radiographs from several machines. Computed with scikit-image's
``exposure.equalize_adapthist`` (256 bins), whose ``clip_limit`` is this normalised one. The limit
counts whole pixels: on a 64 x 64 image a tile holds 64 of them, so any limit below 2/64 caps a
grey level at one pixel.
"""

from __future__ import annotations

import numpy as np
from skimage import exposure


def clahe(images: np.ndarray, clip_limit: float, tiles: int = 8) -> np.ndarray:
    """uint8 grey images (n, height, width) -> their CLAHE, float32 on the same 0-255 scale."""
    out = np.empty(images.shape, np.float32)
    for index, image in enumerate(images):
        kernel = (max(image.shape[0] // tiles, 1), max(image.shape[1] // tiles, 1))
        out[index] = 255.0 * exposure.equalize_adapthist(image, kernel_size=kernel, clip_limit=clip_limit)
    return out
