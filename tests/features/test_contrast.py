"""CLAHE before the model: an X-ray's exposure matters less than its local contrast."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import exposure

from shallowdeep.experiments import ConfigError, load_experiment
from shallowdeep.features import clahe
from shallowdeep.prepare import features_from_images


@pytest.fixture
def xrays(real_chest_xray):
    """Eight real test X-rays at 64 x 64, four of each class."""
    paths = [path for folder in ("NORMAL", "PNEUMONIA") for path in sorted((real_chest_xray / "test" / folder).iterdir())[:4]]
    return np.stack([np.asarray(Image.open(path).convert("L").resize((64, 64), Image.Resampling.BILINEAR)) for path in paths])


def test_clahe_brings_a_darker_exposure_of_an_x_ray_close_to_the_original(xrays):
    darker = np.round(255 * (xrays / 255) ** 2).astype(np.uint8)  # gamma 2: the same film, underexposed
    before = np.abs(darker.astype(np.float32) - xrays).mean()
    after = np.abs(clahe(darker, 0.05) - clahe(xrays, 0.05)).mean()
    assert after < before / 3
    np.testing.assert_allclose(clahe(xrays[:1], 0.02)[0],
                               255 * exposure.equalize_adapthist(xrays[0], kernel_size=(8, 8), clip_limit=0.02),
                               atol=1e-3)


def test_features_clahe_reaches_every_input_the_model_gets_and_is_refused_before_hog(xrays):
    experiment = load_experiment("xray-best", ["features.clahe=0.02"])
    np.testing.assert_allclose(features_from_images(xrays, experiment)[..., 0], clahe(xrays, 0.02) / 255, atol=1e-6)
    plain = features_from_images(xrays, load_experiment("xray-best"))
    assert not np.allclose(plain, features_from_images(xrays, experiment))
    with pytest.raises(ConfigError, match='features.clahe = 0.02 is not allowed; expected 0 with features.kind = "hog"'):
        load_experiment("hog-1", ["features.clahe=0.02"])
