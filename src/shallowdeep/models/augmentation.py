"""Data augmentation as one Keras layer: a random affine warp per image, only while training.

Each training image gets its own rotation ``theta``, zoom ``s``, shift ``(t_x, t_y)`` and, with
``flip``, a horizontal mirror ``f in {1, -1}``, composed into a single affine map so that every
image is resampled once (bilinear) instead of once per Keras ``Random*`` layer. With ``c`` the
image centre, an output pixel ``p`` reads the input at

    p_in = c + A (p - c) - t,    A = (1 / s) * R(theta) * diag(f, 1)

where ``R`` is a rotation. ``theta`` is uniform in ``[-rotation, rotation]`` degrees, ``s`` in
``[1 - zoom, 1 + zoom]`` and ``t`` in ``[-shift, shift]`` times the image side. Pixels read from
outside the image are 0 (black background for MNIST and X-rays alike).

At inference (``training=False``: evaluation, ``predict``) the layer passes images through
unchanged, and it is saved with the model, so a trained model needs nothing extra to be used.
Backend-neutral: ``keras.ops`` and ``keras.random`` only.
"""

from __future__ import annotations

import math

from shallowdeep.backend import keras

ops = keras.ops


@keras.saving.register_keras_serializable(package="shallowdeep")
class RandomAffine(keras.layers.Layer):
    """Random rotation (degrees), zoom (fraction), shift (fraction of the side) and horizontal flip."""

    def __init__(self, rotation: float = 0.0, zoom: float = 0.0, shift: float = 0.0, flip: bool = False,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for name, value, upper in (("rotation", rotation, 180.0), ("zoom", zoom, 1.0), ("shift", shift, 1.0)):
            if not 0.0 <= value < upper:
                raise ValueError(f"augmentation {name} must be in [0, {upper:g}), got {value!r}")
        self.rotation, self.zoom, self.shift, self.flip = float(rotation), float(zoom), float(shift), bool(flip)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch, bound):
        return keras.random.uniform((batch,), -bound, bound, seed=self.seed_generator)

    def transforms(self, batch, height: int, width: int):
        """(batch, 8) projective rows ``[a0, a1, a2, b0, b1, b2, 0, 0]`` mapping output to input."""
        theta = self._uniform(batch, math.radians(self.rotation))
        inverse_scale = 1.0 / (1.0 + self._uniform(batch, self.zoom))
        mirror = ops.ones((batch,))
        if self.flip:
            mirror = ops.where(keras.random.uniform((batch,), seed=self.seed_generator) < 0.5, -1.0, 1.0)
        cos, sin = ops.cos(theta) * inverse_scale, ops.sin(theta) * inverse_scale
        a0, a1, b0, b1 = cos * mirror, -sin, sin * mirror, cos
        t_x = self._uniform(batch, self.shift) * width
        t_y = self._uniform(batch, self.shift) * height
        c_x, c_y = (width - 1) / 2.0, (height - 1) / 2.0
        a2 = c_x - a0 * c_x - a1 * c_y - t_x
        b2 = c_y - b0 * c_x - b1 * c_y - t_y
        zeros = ops.zeros((batch,))
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def call(self, images, training=None):
        if not training:
            return images
        shape = ops.shape(images)
        rows = self.transforms(shape[0], images.shape[1], images.shape[2])
        warped = ops.image.affine_transform(ops.cast(images, "float32"), rows, interpolation="bilinear",
                                            fill_mode="constant", fill_value=0, data_format="channels_last")
        return ops.cast(warped, images.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation, "zoom": self.zoom, "shift": self.shift,
                "flip": self.flip, "seed": self.seed}


def with_augmentation(model: keras.Model, rotation: float = 0.0, zoom: float = 0.0, shift: float = 0.0,
                      flip: bool = False) -> keras.Model:
    """``model`` with a :class:`RandomAffine` in front (or ``model`` itself if nothing is random)."""
    if not (rotation or zoom or shift or flip):
        return model
    inputs = keras.Input(shape=model.input_shape[1:], name="input")
    augmented = RandomAffine(rotation, zoom, shift, flip, name="augment")(inputs)
    return keras.Model(inputs, model(augmented), name=model.name)
