"""Models: builders registered by name, the augmentation layers, weight accounting, loading, and
looking inside a trained one (its layers as a chain, feature maps, Grad-CAM).

>>> from shallowdeep.models import create_model, list_models
>>> list_models()
['cnn', 'convnet', 'mlp']
>>> model = create_model("mlp", (784,), outputs=10, hidden=[512])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from shallowdeep.models import builders as _builders  # noqa: F401 (registers the builders)
from shallowdeep.models.registry import (
    ARGUMENT_CHECKS, ModelError, argument_problem, create_model, list_models, model_arguments, register_model,
)

#: Names that need Keras, each imported from its module on first use: the registry and the builders
#: load no backend, so that checking an experiment starts none.
_LAZY = {
    **dict.fromkeys(("convolution_stages", "feature_map_model", "first_convolution_kernel", "has_convolution",
                     "inference_layers"), "shallowdeep.models.anatomy"),
    **dict.fromkeys(("RandomAffine", "RandomBlur", "RandomElastic", "RandomIntensity",
                     "RandomLowResolution", "RandomThickness", "with_augmentation"), "shallowdeep.models.augmentation"),
    **dict.fromkeys(("GradCam", "GradCamResult"), "shallowdeep.models.gradcam"),
    **dict.fromkeys(("HistogramEqualization", "PerImageStandardization"), "shallowdeep.models.normalization"),
    **dict.fromkeys(("LayerWeights", "total_formula", "weight_table", "weight_table_markdown"),
                    "shallowdeep.models.weights"),
}

if TYPE_CHECKING:
    import keras

    from shallowdeep.models.anatomy import (
        convolution_stages, feature_map_model, first_convolution_kernel, has_convolution, inference_layers,
    )
    from shallowdeep.models.augmentation import (
        RandomAffine, RandomBlur, RandomElastic, RandomIntensity, RandomLowResolution, RandomThickness,
        with_augmentation,
    )
    from shallowdeep.models.gradcam import GradCam, GradCamResult
    from shallowdeep.models.normalization import HistogramEqualization, PerImageStandardization
    from shallowdeep.models.weights import LayerWeights, total_formula, weight_table, weight_table_markdown


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'shallowdeep.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load_model(path: str | os.PathLike) -> keras.Model:
    """A saved ``.keras`` model, loaded with ``safe_mode=True`` (no arbitrary code from the file),
    shallowdeep's own layers (augmentation, per-image standardisation and equalisation) known."""
    from shallowdeep.backend import keras
    from shallowdeep.models.augmentation import AUGMENTATION_LAYERS
    from shallowdeep.models.normalization import HistogramEqualization, PerImageStandardization

    custom_objects = {**AUGMENTATION_LAYERS, "PerImageStandardization": PerImageStandardization,
                      "HistogramEqualization": HistogramEqualization}
    return keras.saving.load_model(path, safe_mode=True, custom_objects=custom_objects)


__all__ = [
    "ARGUMENT_CHECKS",
    "GradCam",
    "GradCamResult",
    "HistogramEqualization",
    "LayerWeights",
    "ModelError",
    "PerImageStandardization",
    "RandomAffine",
    "RandomBlur",
    "RandomElastic",
    "RandomIntensity",
    "RandomLowResolution",
    "RandomThickness",
    "argument_problem",
    "convolution_stages",
    "create_model",
    "feature_map_model",
    "first_convolution_kernel",
    "has_convolution",
    "inference_layers",
    "list_models",
    "load_model",
    "model_arguments",
    "register_model",
    "total_formula",
    "weight_table",
    "weight_table_markdown",
    "with_augmentation",
]
