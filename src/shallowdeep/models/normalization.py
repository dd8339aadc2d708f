"""Per-image standardisation, as the first layer of a network: every image on the same grey scale.

X-rays from two machines differ in exposure and post-processing: the same lung can be mid-grey on
one and dark on the other. Standardising each image by its own statistics removes the overall level
and spread before the network sees it, at training and at inference alike (the layer is part of the
saved model, so ``predict`` and the explorer need nothing extra).
"""

from __future__ import annotations

import math

from shallowdeep.backend import keras

ops = keras.ops


@keras.saving.register_keras_serializable(package="shallowdeep")
class PerImageStandardization(keras.layers.Layer):
    """``(x - mean(x)) / max(std(x), 1 / sqrt(N))`` for each image ``x`` of ``N`` values.

    The same formula as ``tf.image.per_image_standardization``; the floor on the standard deviation
    keeps a uniform image finite. Computed in float32 whatever the layer's dtype policy, since a
    bfloat16 mean over 16,384 pixels loses the precision that the subtraction needs.
    """

    def call(self, images):
        x = ops.cast(images, "float32")
        count = math.prod(images.shape[1:])
        mean = ops.mean(x, axis=tuple(range(1, len(images.shape))), keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(x - mean), axis=tuple(range(1, len(images.shape))), keepdims=True))
        return ops.cast((x - mean) / ops.maximum(std, 1.0 / math.sqrt(count)), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
