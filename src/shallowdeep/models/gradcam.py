"""Grad-CAM: where in an image a CNN found the evidence for a class (Selvaraju et al. 2017).

With ``A^k`` (``k = 1..K``, each ``h x w``) the feature maps of the network's last convolution
stage and ``y^c`` the score of class ``c`` *before* the output activation (its logit):

    alpha_k^c = (1 / (h w)) * sum_ij  d y^c / d A^k_ij         (global-average-pooled gradients)
    L^c       = ReLU( sum_k alpha_k^c A^k )                      (h x w, laid over the image)

and ``L^c`` is shown divided by its maximum (all 0 when nothing in the image raises the score).

- **The logit, not the probability.** A sigmoid or softmax that saturates (``p = 0.9999``) has a
  gradient near 0, which would blank the map exactly for the images the model is surest of.
  For one sigmoid output ``z`` (a binary task), ``z`` is the log-odds of class 1: the score of
  class 1 is ``z`` and that of class 0 is ``-z``.
- **float32.** The model's layers are copied into float32 with the same weights: a bfloat16 run's
  8-bit mantissa would make the gradient coarse.
- **One backend-specific piece.** The copy is cut at the last convolution stage into a *body*
  (image -> ``A``) and a *head* (``A`` -> logits), so all that needs automatic differentiation is
  the gradient of the head with respect to its input, :func:`_input_gradient`: TensorFlow's
  ``GradientTape``, ``torch.autograd.grad`` or ``jax.vjp``.

Reference: R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh and D. Batra, "Grad-CAM:
Visual Explanations from Deep Networks via Gradient-based Localization", ICCV 2017.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shallowdeep.backend import keras
from shallowdeep.models.anatomy import convolution_stages, inference_layers
from shallowdeep.models.registry import ModelError

ops = keras.ops
_OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")


@dataclass(frozen=True)
class GradCamResult:
    """Heat maps (n, h, w) in [0, 1] at the last convolution's resolution, and the logits
    (n, outputs) of the float32 copy that computed them."""

    heatmaps: np.ndarray
    logits: np.ndarray


def _float32_copy(layer: keras.layers.Layer, x, *, linear: bool = False):
    """``layer`` rebuilt in float32 with its weights (``linear``: without its activation), applied to ``x``."""
    config = {**layer.get_config(), "dtype": "float32"}
    if linear:
        config["activation"] = "linear"
    copy = type(layer).from_config(config)
    y = copy(x)
    copy.set_weights(layer.get_weights())
    return y


class GradCam:
    """Grad-CAM of one trained model, ready to explain any batch of its inputs.

    >>> cam = GradCam(run.model)                            # doctest: +SKIP
    >>> result = cam(x_test[:4], classes=[1, 1, 0, 0])      # doctest: +SKIP
    >>> result.heatmaps.shape                               # doctest: +SKIP
    (4, 8, 8)
    """

    def __init__(self, model: keras.Model):
        layers = inference_layers(model)
        stages = convolution_stages(layers)
        if not stages:
            raise ModelError(f"{model.name!r} has no convolution: Grad-CAM explains convolutional networks")
        output = layers[-1]
        activation = getattr(output, "activation", None)
        if not isinstance(output, keras.layers.Dense) or getattr(activation, "__name__", "") not in _OUTPUT_ACTIVATIONS:
            raise ModelError(f"{model.name!r} does not end with a sigmoid or softmax Dense layer, so its "
                             f"logits cannot be read for Grad-CAM")
        cut = stages[-1]
        self.layer = next(layer.name for layer in reversed(layers[: cut + 1])
                          if isinstance(layer, keras.layers.Conv2D))
        try:
            image = keras.Input(shape=tuple(model.inputs[0].shape[1:]), dtype="float32", name="image")
            x = image
            for layer in layers[: cut + 1]:
                x = _float32_copy(layer, x)
            self.body = keras.Model(image, x, name="grad_cam_body")
            maps = keras.Input(shape=tuple(x.shape[1:]), dtype="float32", name="feature_maps")
            x = maps
            for layer in layers[cut + 1:-1]:
                x = _float32_copy(layer, x)
            self.head = keras.Model(maps, _float32_copy(output, x, linear=True), name="grad_cam_head")
        except (ValueError, TypeError) as error:
            raise ModelError(f"cannot rebuild {model.name!r} layer by layer for Grad-CAM: {error}") from None
        self.binary = self.head.outputs[0].shape[-1] == 1

    def __call__(self, images: np.ndarray, classes) -> GradCamResult:
        """Heat maps of class ``classes[i]`` for ``images[i]`` (the model's inputs, float)."""
        classes = np.asarray(classes, dtype=np.int64)
        maps = self.body(ops.convert_to_tensor(np.asarray(images, dtype=np.float32)), training=False)
        if self.binary:
            selector = ops.convert_to_tensor(np.where(classes == 1, 1.0, -1.0).astype(np.float32)[:, None])
        else:
            selector = ops.one_hot(ops.convert_to_tensor(classes), self.head.outputs[0].shape[-1])

        def class_scores(feature_maps):
            return ops.sum(self.head(feature_maps, training=False) * selector, axis=1)

        gradients = _input_gradient(class_scores, maps)
        weights = ops.mean(gradients, axis=(1, 2))  # alpha: (n, K)
        cam = ops.relu(ops.einsum("nhwk,nk->nhw", maps, weights))
        peak = ops.max(cam, axis=(1, 2), keepdims=True)
        cam = ops.where(peak > 0, cam / ops.maximum(peak, 1e-12), 0.0)
        logits = self.head(maps, training=False)
        return GradCamResult(ops.convert_to_numpy(cam).astype(np.float32),
                             ops.convert_to_numpy(logits).astype(np.float32))


def _input_gradient(function, x):
    """The gradient of ``sum(function(x))`` with respect to ``x``: each row of ``function(x)``
    depends on its own row of ``x`` only, so row ``i`` of the result is ``d function(x)_i / d x_i``."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = function(x)
        return tape.gradient(scores, x)
    if backend == "torch":
        import torch

        x = x.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(function(x).sum(), x)
        return gradient.detach()
    if backend == "jax":
        import jax

        scores, pullback = jax.vjp(function, x)
        (gradient,) = pullback(ops.ones_like(scores))
        return gradient
    raise ModelError(f"Grad-CAM has no gradient for Keras backend {backend!r}; use tensorflow, torch or jax")
