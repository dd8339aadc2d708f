"""Per-image grey-scale normalisation, as the first layer of a network: every image on the same scale.

X-rays from two machines differ in exposure and post-processing: the same lung can be mid-grey on
one and dark on the other. Two layers remove that before the network sees it, at training and at
inference alike (each is part of the saved model, so ``predict`` and the explorer need nothing extra):
standardisation takes out the overall level and spread (any ``a x + b``); histogram equalisation
takes out any increasing change of the grey levels (gamma, a film's curve, a window).
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


@keras.saving.register_keras_serializable(package="shallowdeep")
class HistogramEqualization(keras.layers.Layer):
    """Global histogram equalisation of each image: every value replaced by the image's own
    empirical distribution function at its grey level,

        s(x_i) = #{j : q(x_j) <= q(x_i)} / N,    q(x) = round((L - 1) clip(x, 0, 1)),

    over ``L = levels`` grey levels and the image's ``N`` values (Gonzalez & Woods, *Digital Image
    Processing*, 3rd ed. 2008, section 3.3.1, with ``s`` on [0, 1] instead of [0, L - 1]). The output
    is spread evenly over (0, 1] whatever the exposure: any increasing map of the grey levels that keeps
    them distinct on ``q`` (gamma, contrast, brightness without clipping) gives the same image. The
    channels of a colour image share one histogram.

    Expects images scaled to [0, 1] (``features.divide_by = 255``). Counted in float32 through a
    one-hot of ``N x L`` values per image (16 MB for a 64 x 64 image), so it is meant for small inputs.
    """

    def __init__(self, levels: int = 256, **kwargs):
        super().__init__(**kwargs)
        if not 2 <= levels <= 4096:
            raise ValueError(f"levels must be from 2 to 4096, got {levels}")
        self.levels = levels

    def call(self, images):
        count = math.prod(images.shape[1:])
        flat = ops.reshape(ops.cast(images, "float32"), (-1, count))
        level = ops.cast(ops.round(ops.clip(flat, 0.0, 1.0) * (self.levels - 1)), "int32")
        histogram = ops.sum(ops.one_hot(level, self.levels, dtype="float32"), axis=1)
        distribution = ops.cumsum(histogram, axis=1) / count
        equalised = ops.take_along_axis(distribution, level, axis=1)
        return ops.cast(ops.reshape(equalised, ops.shape(images)), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}
