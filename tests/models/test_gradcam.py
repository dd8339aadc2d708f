"""Grad-CAM on networks whose answer is known by hand: the map of the class the logit favours is
the evidence itself, the other class's is empty; float32 whatever the run's precision; nested,
Sequential and multi-class models alike."""

from __future__ import annotations

import numpy as np
import pytest

from shallowdeep.backend import bfloat16_refused_here, keras
from shallowdeep.models import GradCam, ModelError, feature_map_model, inference_layers, with_augmentation

SIDE = 8
#: Dense weights on the two feature maps' averages, and the bias: z = 2 mean(A0) - mean(A1) - 0.5.
WEIGHTS, BIAS = np.array([[2.0], [-1.0]]), np.array([-0.5])


def _image() -> np.ndarray:
    """A dim 8 x 8 image with a bright top-left quadrant, (1, 8, 8, 1)."""
    image = np.full((SIDE, SIDE), 0.2, np.float32)
    image[:4, :4] = 1.0
    return image[None, :, :, None]


def _layers(dtype: str, units: int = 1, activation: str = "sigmoid"):
    """Conv 1x1 copying the image into two maps (A0 = A1 = image), global average, Dense."""
    conv = keras.layers.Conv2D(2, 1, use_bias=False, activation="relu", dtype=dtype, name="conv")
    dense = keras.layers.Dense(units, activation=activation, dtype="float32", name="output")
    return conv, keras.layers.GlobalAveragePooling2D(dtype=dtype, name="gap"), dense


def _set_weights(conv, dense, dense_weights, bias):
    conv.set_weights([np.ones((1, 1, 1, 2), np.float32)])
    dense.set_weights([np.asarray(dense_weights, np.float32), np.asarray(bias, np.float32)])


def _functional(dtype: str = "float32") -> keras.Model:
    conv, pool, dense = _layers(dtype)
    inputs = keras.Input((SIDE, SIDE, 1))
    model = keras.Model(inputs, dense(pool(conv(inputs))), name="known")
    _set_weights(conv, dense, WEIGHTS, BIAS)
    return model


def test_the_map_of_the_class_the_logit_favours_is_the_evidence_and_the_other_is_empty():
    # dz/dA0 = 2/64 and dz/dA1 = -1/64 everywhere, so sum_k alpha_k A^k = image / 64.
    result = GradCam(_functional())(np.repeat(_image(), 2, axis=0), classes=[1, 0])
    np.testing.assert_allclose(result.heatmaps[0], _image()[0, :, :, 0], atol=1e-6)
    np.testing.assert_array_equal(result.heatmaps[1], 0.0)
    image = _image()[0, :, :, 0]
    np.testing.assert_allclose(result.logits[:, 0], 2 * image.mean() - image.mean() - 0.5, atol=1e-6)


@pytest.mark.skipif(bfloat16_refused_here(), reason="ONEDNN_MAX_CPU_ISA keeps TensorFlow from this CPU's bfloat16 "
                                                    "kernels (an AVX2-only CPU emulated on a newer one)")
def test_a_bfloat16_model_is_explained_in_float32_with_its_own_weights():
    model = _functional("mixed_bfloat16")
    result = GradCam(model)(_image(), classes=[1])
    image = _image()[0, :, :, 0]
    np.testing.assert_allclose(result.logits[0, 0], image.mean() - 0.5, atol=1e-6)  # no bfloat16 rounding
    np.testing.assert_allclose(result.heatmaps[0], image, atol=1e-6)
    probability = float(keras.ops.convert_to_numpy(model(_image(), training=False))[0, 0])
    assert probability == pytest.approx(1 / (1 + np.exp(-result.logits[0, 0])), abs=1e-2)


def test_the_augmentation_wrapper_and_a_sequential_model_are_looked_through():
    wrapped = with_augmentation(_functional(), rotation=10.0, zoom=0.1)
    assert [layer.name for layer in inference_layers(wrapped)] == ["conv", "gap", "output"]
    conv, pool, dense = _layers("float32")
    sequential = keras.Sequential([keras.Input((SIDE, SIDE, 1)), conv, pool, dense])
    _set_weights(conv, dense, WEIGHTS, BIAS)
    for model in (wrapped, sequential):
        np.testing.assert_allclose(GradCam(model)(_image(), classes=[1]).heatmaps[0], _image()[0, :, :, 0], atol=1e-6)


def test_a_softmax_model_is_explained_by_the_logit_of_the_class_asked_for():
    conv, pool, dense = _layers("float32", units=3, activation="softmax")
    inputs = keras.Input((SIDE, SIDE, 1))
    model = keras.Model(inputs, dense(pool(conv(inputs))))
    # Class 0 gains from both maps, class 1 from neither, class 2 loses from both.
    _set_weights(conv, dense, [[1.0, 0.0, -1.0], [1.0, 0.0, -1.0]], [0.0, 0.0, 0.0])
    result = GradCam(model)(np.repeat(_image(), 3, axis=0), classes=[0, 1, 2])
    np.testing.assert_allclose(result.heatmaps[0], _image()[0, :, :, 0], atol=1e-6)
    np.testing.assert_array_equal(result.heatmaps[1:], 0.0)


def test_networks_that_are_not_chains_or_have_no_convolution_are_refused_clearly():
    inputs = keras.Input((SIDE, SIDE, 1))
    features = keras.layers.Conv2D(2, 1, name="conv")(inputs)
    merged = keras.layers.Add()([features, keras.layers.Conv2D(2, 1)(inputs)])
    residual = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(merged)))
    with pytest.raises(ModelError, match="reads 2 inputs"):
        GradCam(residual)
    mlp = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    with pytest.raises(ModelError, match="has no convolution"):
        GradCam(mlp)


def test_feature_maps_are_each_convolution_s_output_after_its_activation():
    inputs = keras.Input((SIDE, SIDE, 1))
    x = keras.layers.Conv2D(3, 3, padding="same", use_bias=False, name="conv_1")(inputs)
    x = keras.layers.BatchNormalization(name="bn_1")(x)
    x = keras.layers.Activation("relu", name="act_1")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_2")(keras.layers.MaxPooling2D()(x))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x)))
    maps, names = feature_map_model(model)
    first, second = maps.predict_on_batch(_image() - 0.5)
    assert names == ["conv_1", "conv_2"] and first.shape == (1, 8, 8, 3) and second.shape == (1, 4, 4, 4)
    assert first.min() >= 0.0  # after the ReLU that follows the batch normalisation
