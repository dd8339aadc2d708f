"""Features computed from images before a model sees them."""

from shallowdeep.features._hog import (
    BLOCK_NORMS,
    HOG_VERSION,
    cached_hog,
    cell_histograms,
    hog,
    hog_feature_size,
    hog_image,
)
from shallowdeep.features.contrast import clahe

__all__ = [
    "BLOCK_NORMS",
    "HOG_VERSION",
    "cached_hog",
    "clahe",
    "cell_histograms",
    "hog",
    "hog_feature_size",
    "hog_image",
]
