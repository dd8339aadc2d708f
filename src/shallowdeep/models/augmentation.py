"""Data augmentation as Keras layers, random per image and active only while training.

The layers imitate what differs between MNIST's writers and anyone else's: how the hand moves
(:class:`RandomElastic`), how the digit sits on the page (:class:`RandomAffine`), the pen
(:class:`RandomThickness`) and the tool that captured it (:class:`RandomLowResolution`,
:class:`RandomBlur`); and between two hospitals' X-rays, how the patient is framed
(:class:`RandomAffine`) and exposed (:class:`RandomIntensity`). :func:`with_augmentation` puts the ones an experiment asks for in front of
its model, in that order.

At inference (``training=False``: evaluation, ``predict``) every layer passes images through
unchanged; they are saved with the model and registered for ``safe_mode`` loading
(:data:`AUGMENTATION_LAYERS`), so a trained model needs nothing extra to be used. All of them are
backend-neutral: ``keras.ops`` and ``keras.random`` only. Images are ``(batch, height, width,
channels)`` with a black (0) background, as MNIST's and the X-rays' are.

The per-image linear filters (blur, resampling, smoothing of the elastic field) are written as
matrix products ``M_rows X M_columns^T``: a separable filter is one such product, every image can
have its own matrices, and on 28 x 28 images two small matrix products cost less than a
convolution.
"""

from __future__ import annotations

import math

import numpy as np

from shallowdeep.backend import keras

ops = keras.ops


def _uniform(batch, low, high, generator):
    return keras.random.uniform((batch,), low, high, seed=generator)


def _channels_first(images):
    """(batch, h, w, c) -> (batch, c, h, w), where matrix products act on the last two axes."""
    return ops.transpose(images, (0, 3, 1, 2))


def _channels_last(images):
    return ops.transpose(images, (0, 2, 3, 1))


def _separable(images, rows, columns):
    """``rows @ X @ columns^T`` for each image and channel: ``rows`` (batch or 1, h, h), ``columns``
    (batch or 1, w, w), ``images`` (batch, h, w, c)."""
    planes = _channels_first(ops.cast(images, "float32"))
    filtered = ops.matmul(ops.matmul(rows[:, None], planes), ops.swapaxes(columns, -1, -2)[:, None])
    return ops.cast(_channels_last(filtered), images.dtype)


def gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """The (size, size) matrix of a 1-D Gaussian blur of standard deviation ``sigma`` pixels with
    zero padding: ``G[i, j] = exp(-(i - j)^2 / (2 sigma^2)) / (sqrt(2 pi) sigma)``."""
    offsets = np.subtract.outer(np.arange(size), np.arange(size)).astype(np.float64)
    return np.exp(-offsets ** 2 / (2 * sigma ** 2)) / (math.sqrt(2 * math.pi) * sigma)


def resampling_matrix(size: int, small: int) -> np.ndarray:
    """The (size, size) matrix that shrinks a line of ``size`` pixels to ``small`` by area
    averaging, then enlarges it back by linear interpolation (pixel centres aligned, edges
    clamped): what a low-resolution scanner, camera or canvas followed by an upscaler does."""
    # Area averaging: small pixel k covers [k, k + 1) * size / small of the original line.
    edges = np.arange(small + 1) * size / small
    starts, ends = edges[:-1, None], edges[1:, None]
    pixels = np.arange(size)[None, :]
    overlap = np.clip(np.minimum(ends, pixels + 1) - np.maximum(starts, pixels), 0, None)
    shrink = overlap / overlap.sum(axis=1, keepdims=True)
    # Linear interpolation: original pixel i sits at (i + 0.5) * small / size - 0.5 on the small grid.
    position = np.clip((np.arange(size) + 0.5) * small / size - 0.5, 0, small - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, small - 1)
    weight = position - below
    enlarge = np.zeros((size, small))
    enlarge[np.arange(size), below] += 1 - weight
    enlarge[np.arange(size), above] += weight
    return enlarge @ shrink


class _RandomPerImage(keras.layers.Layer):
    """What every augmentation layer shares: its own random stream (``seed``), images passed through
    unchanged unless training, the shape kept, and its settings in its config."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def augment(self, images):
        """The randomly changed images (training only)."""
        raise NotImplementedError

    def settings(self) -> dict:
        """The layer's own arguments, as its config saves them."""
        raise NotImplementedError

    def call(self, images, training=None):
        return self.augment(images) if training else images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), **self.settings(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="shallowdeep")
class RandomAffine(_RandomPerImage):
    """Random rotation (degrees), zoom (fraction), shift (fraction of the side), shear (degrees) and
    horizontal flip, composed into one affine map so that every image is resampled once (bilinear).

    With ``c`` the image centre, an output pixel ``p`` reads the input at

        p_in = c + A (p - c) - t,    A = (1 / s) * R(theta) * H(phi) * diag(f, 1)

    where ``R`` is a rotation and ``H(phi) = [[1, tan phi], [0, 1]]`` a horizontal shear (a slanted
    hand). ``theta`` is uniform in ``[-rotation, rotation]`` degrees, ``phi`` in ``[-shear, shear]``,
    ``s`` in ``[1 - zoom, 1 + zoom]``, ``t`` in ``[-shift, shift]`` times the image side and, with
    ``flip``, ``f`` is -1 half of the time. Pixels read from outside the image are 0.
    """

    def __init__(self, rotation: float = 0.0, zoom: float = 0.0, shift: float = 0.0, flip: bool = False,
                 seed: int | None = None, shear: float = 0.0, **kwargs):
        super().__init__(seed, **kwargs)
        for name, value, upper in (("rotation", rotation, 180.0), ("zoom", zoom, 1.0), ("shift", shift, 1.0),
                                   ("shear", shear, 60.0)):
            if not 0.0 <= value < upper:
                raise ValueError(f"augmentation {name} must be in [0, {upper:g}), got {value!r}")
        self.rotation, self.zoom, self.shift, self.flip = float(rotation), float(zoom), float(shift), bool(flip)
        self.shear = float(shear)

    def _uniform(self, batch, bound):
        return _uniform(batch, -bound, bound, self.seed_generator)

    def transforms(self, batch, height: int, width: int):
        """(batch, 8) projective rows ``[a0, a1, a2, b0, b1, b2, 0, 0]`` mapping output to input."""
        theta = self._uniform(batch, math.radians(self.rotation))
        inverse_scale = 1.0 / (1.0 + self._uniform(batch, self.zoom))
        mirror = ops.ones((batch,))
        if self.flip:
            mirror = ops.where(keras.random.uniform((batch,), seed=self.seed_generator) < 0.5, -1.0, 1.0)
        slant = ops.tan(self._uniform(batch, math.radians(self.shear))) if self.shear else ops.zeros((batch,))
        cos, sin = ops.cos(theta) * inverse_scale, ops.sin(theta) * inverse_scale
        # R(theta) H(phi) diag(f, 1) = [[cos f, cos tan(phi) - sin], [sin f, sin tan(phi) + cos]] / s
        a0, a1, b0, b1 = cos * mirror, cos * slant - sin, sin * mirror, sin * slant + cos
        t_x = self._uniform(batch, self.shift) * width
        t_y = self._uniform(batch, self.shift) * height
        c_x, c_y = (width - 1) / 2.0, (height - 1) / 2.0
        a2 = c_x - a0 * c_x - a1 * c_y - t_x
        b2 = c_y - b0 * c_x - b1 * c_y - t_y
        zeros = ops.zeros((batch,))
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def augment(self, images):
        shape = ops.shape(images)
        rows = self.transforms(shape[0], images.shape[1], images.shape[2])
        warped = ops.image.affine_transform(ops.cast(images, "float32"), rows, interpolation="bilinear",
                                            fill_mode="constant", fill_value=0, data_format="channels_last")
        return ops.cast(warped, images.dtype)

    def settings(self) -> dict:
        return {"rotation": self.rotation, "zoom": self.zoom, "shift": self.shift,
                "flip": self.flip, "shear": self.shear}


@keras.saving.register_keras_serializable(package="shallowdeep")
class RandomIntensity(_RandomPerImage):
    """Another exposure and another detector: random gamma, contrast and brightness per image.

    For an image ``x`` scaled to [0, 1] (``features.divide_by = 255``), with ``m`` its mean after
    the gamma curve:

        x' = clip(m + c (x^g - m) + b, 0, 1)

    ``log g`` is uniform in ``[-log(1 + gamma), log(1 + gamma)]`` (``g`` and ``1 / g`` equally
    likely: darker and brighter mid-tones), ``c`` uniform in ``[1 - contrast, 1 + contrast]`` (the
    spread of grey levels about the mean) and ``b`` uniform in ``[-brightness, brightness]``. These
    are what differ between two X-ray machines, two exposure settings or two post-processing
    curves, and a network that keys on absolute grey levels fails on the other hospital's images.
    """

    def __init__(self, contrast: float = 0.0, brightness: float = 0.0, gamma: float = 0.0,
                 seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        for name, value, upper in (("contrast", contrast, 1.0), ("brightness", brightness, 1.0), ("gamma", gamma, 2.0)):
            if not 0.0 <= value <= upper:
                raise ValueError(f"augmentation {name} must be in [0, {upper:g}], got {value!r}")
        self.contrast, self.brightness, self.gamma = float(contrast), float(brightness), float(gamma)

    def augment(self, images):
        x = ops.clip(ops.cast(images, "float32"), 0.0, 1.0)
        batch = ops.shape(x)[0]
        spread = math.log1p(self.gamma)
        g = ops.exp(_uniform(batch, -spread, spread, self.seed_generator))[:, None, None, None]
        x = ops.power(ops.maximum(x, 1e-6), g)
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        c = _uniform(batch, 1.0 - self.contrast, 1.0 + self.contrast, self.seed_generator)[:, None, None, None]
        b = _uniform(batch, -self.brightness, self.brightness, self.seed_generator)[:, None, None, None]
        return ops.cast(ops.clip(mean + c * (x - mean) + b, 0.0, 1.0), images.dtype)

    def settings(self) -> dict:
        return {"contrast": self.contrast, "brightness": self.brightness, "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="shallowdeep")
class RandomThickness(_RandomPerImage):
    """Thicker or thinner strokes: grey dilation or erosion by a random, fractional number of pixels.

    Each image gets ``t`` uniform in ``[-thickness, thickness]``. With ``D^k`` the image dilated
    ``k`` times by a 3 x 3 maximum (``D^-k``: eroded by a 3 x 3 minimum; ``D^0``: unchanged), the
    output interpolates between the two nearest whole steps:
    ``(1 - (t - floor t)) D^floor(t) + (t - floor t) D^(floor(t) + 1)``. One step adds or removes
    one pixel of ink on each side of a stroke (MNIST's strokes are 2-3 pixels wide).
    """

    def __init__(self, thickness: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        if not 0.0 < thickness <= 3.0:
            raise ValueError(f"augmentation thickness must be in (0, 3] pixels, got {thickness!r}")
        self.thickness = float(thickness)

    def augment(self, images):
        x = ops.cast(images, "float32")
        steps = math.ceil(self.thickness)
        dilated, eroded, levels = x, x, {0: x}
        for step in range(1, steps + 1):
            dilated = ops.max_pool(dilated, 3, strides=1, padding="same")
            eroded = -ops.max_pool(-eroded, 3, strides=1, padding="same")
            levels[step], levels[-step] = dilated, eroded
        t = _uniform(ops.shape(x)[0], -self.thickness, self.thickness, self.seed_generator)[:, None, None, None]
        out = ops.zeros_like(x)
        for step, level in levels.items():
            out = out + ops.maximum(0.0, 1.0 - ops.abs(t - step)) * level  # hat weights: sum to 1
        return ops.cast(out, images.dtype)

    def settings(self) -> dict:
        return {"thickness": self.thickness}


@keras.saving.register_keras_serializable(package="shallowdeep")
class RandomBlur(_RandomPerImage):
    """A Gaussian blur of random width per image: ``sigma`` uniform in ``[0, blur]`` pixels.

    The blur is separable, ``G X G^T`` with ``G[i, j] = exp(-(i - j)^2 / (2 sigma^2))`` normalised
    so that each row sums to 1 (no ink is lost at the edges); sigma near 0 leaves the image as it
    is. A soft pencil, an out-of-focus photo, a smoothing brush.
    """

    def __init__(self, blur: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        if not 0.0 < blur <= 3.0:
            raise ValueError(f"augmentation blur must be in (0, 3] pixels, got {blur!r}")
        self.blur = float(blur)

    @staticmethod
    def _matrices(sigma, size: int):
        offsets = np.subtract.outer(np.arange(size), np.arange(size)).astype(np.float32)
        weights = ops.exp(-ops.convert_to_tensor(offsets ** 2)[None] / (2.0 * ops.square(sigma)[:, None, None]))
        return weights / ops.sum(weights, axis=-1, keepdims=True)

    def augment(self, images):
        sigma = ops.maximum(_uniform(ops.shape(images)[0], 0.0, self.blur, self.seed_generator), 1e-3)
        return _separable(images, self._matrices(sigma, images.shape[1]), self._matrices(sigma, images.shape[2]))

    def settings(self) -> dict:
        return {"blur": self.blur}


@keras.saving.register_keras_serializable(package="shallowdeep")
class RandomLowResolution(_RandomPerImage):
    """The image captured at a lower resolution, then enlarged back: each image is shrunk by area
    averaging to a side drawn uniformly from ``low_resolution`` to its own side (which leaves it
    as it is), then enlarged by linear interpolation (:func:`resampling_matrix`).

    A small canvas, a thumbnail, a coarse scan: blocky, soft strokes.
    """

    def __init__(self, low_resolution: int = 14, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        if not (isinstance(low_resolution, int) and low_resolution >= 4):
            raise ValueError(f"augmentation low_resolution must be a side of at least 4 pixels, got {low_resolution!r}")
        self.low_resolution = low_resolution

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if self.low_resolution >= min(height, width):
            raise ValueError(f"augmentation low_resolution = {self.low_resolution} must be below the image side "
                             f"({height}x{width})")
        sides = range(self.low_resolution, height + 1)
        # One pair of matrices per side; the width shrinks in proportion (the same side for square images).
        self._rows = ops.convert_to_tensor(np.stack([resampling_matrix(height, side) for side in sides]), "float32")
        self._columns = ops.convert_to_tensor(
            np.stack([resampling_matrix(width, max(1, round(side * width / height))) for side in sides]), "float32")
        self._choices = len(sides)

    def augment(self, images):
        batch = ops.shape(images)[0]
        choice = ops.cast(ops.floor(_uniform(batch, 0.0, self._choices, self.seed_generator)), "int32")
        choice = ops.minimum(choice, self._choices - 1)
        return _separable(images, ops.take(self._rows, choice, axis=0), ops.take(self._columns, choice, axis=0))

    def settings(self) -> dict:
        return {"low_resolution": self.low_resolution}


@keras.saving.register_keras_serializable(package="shallowdeep")
class RandomElastic(_RandomPerImage):
    """Elastic distortion (Simard, Steinkraus & Platt 2003, "Best practices for convolutional neural
    networks applied to visual document analysis", ICDAR): the wobble of a hand.

    Each image gets a displacement field: ``dx`` and ``dy`` uniform in ``[-1, 1]`` at every pixel,
    each convolved with a Gaussian of standard deviation ``sigma`` pixels (zero padding) and
    multiplied by ``alpha``; an output pixel ``p`` reads the input at ``p + (dx(p), dy(p))``,
    bilinearly, 0 outside. Simard et al. use ``sigma = 4`` and ``alpha = 34`` on MNIST: a smooth
    field of about one pixel (its standard deviation is ``alpha / (sqrt(12 pi) sigma)`` away from
    the edges, 1.4 pixels for their values).
    """

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        if not 0.0 < alpha <= 100.0:
            raise ValueError(f"augmentation elastic (alpha) must be in (0, 100], got {alpha!r}")
        if not 0.5 <= sigma <= 20.0:
            raise ValueError(f"augmentation elastic_sigma must be in [0.5, 20] pixels, got {sigma!r}")
        self.alpha, self.sigma = float(alpha), float(sigma)

    def build(self, input_shape):
        self._rows = ops.convert_to_tensor(gaussian_matrix(input_shape[1], self.sigma)[None], "float32")
        self._columns = ops.convert_to_tensor(gaussian_matrix(input_shape[2], self.sigma)[None], "float32")

    def augment(self, images):
        x = ops.cast(images, "float32")
        batch, height, width = ops.shape(x)[0], images.shape[1], images.shape[2]
        noise = keras.random.uniform((batch, height, width, 2), -1.0, 1.0, seed=self.seed_generator)
        field = self.alpha * _separable(noise, self._rows, self._columns)
        rows = ops.arange(height, dtype="float32")[None, :, None] + field[..., 1]
        columns = ops.arange(width, dtype="float32")[None, None, :] + field[..., 0]
        return ops.cast(_bilinear(x, rows, columns), images.dtype)

    def settings(self) -> dict:
        return {"alpha": self.alpha, "sigma": self.sigma}


def _bilinear(images, rows, columns):
    """``images`` (batch, h, w, c) read at fractional ``rows``, ``columns`` (batch, h, w), 0 outside."""
    batch, height, width, channels = ops.shape(images)[0], images.shape[1], images.shape[2], images.shape[3]
    flat = ops.reshape(images, (-1, channels))
    base = (ops.arange(batch, dtype="int32") * (height * width))[:, None, None]
    top, left = ops.floor(rows), ops.floor(columns)
    out = 0.0
    for d_row in (0, 1):
        for d_column in (0, 1):
            r, c = top + d_row, left + d_column
            weight = (1.0 - ops.abs(rows - r)) * (1.0 - ops.abs(columns - c))
            inside = (r >= 0) & (r <= height - 1) & (c >= 0) & (c <= width - 1)
            index = base + ops.cast(ops.clip(r, 0, height - 1), "int32") * width + ops.cast(ops.clip(c, 0, width - 1), "int32")
            value = ops.take(flat, ops.reshape(index, (-1,)), axis=0)
            value = ops.reshape(value, (batch, height, width, channels))
            out = out + ops.where(inside, weight, 0.0)[..., None] * value
    return out


#: shallowdeep's own layers, by name, for loading a saved model with ``safe_mode=True``.
AUGMENTATION_LAYERS = {layer.__name__: layer for layer in
                       (RandomAffine, RandomIntensity, RandomThickness, RandomBlur, RandomLowResolution,
                        RandomElastic)}


def with_augmentation(model: keras.Model, rotation: float = 0.0, zoom: float = 0.0, shift: float = 0.0,
                      flip: bool = False, shear: float = 0.0, thickness: float = 0.0, blur: float = 0.0,
                      low_resolution: int = 0, elastic: float = 0.0, elastic_sigma: float = 4.0,
                      contrast: float = 0.0, brightness: float = 0.0, gamma: float = 0.0) -> keras.Model:
    """``model`` with the asked-for augmentation layers in front, in the order an image is made
    (hand, page, pen, capture): elastic, affine, thickness, low resolution, blur, intensity; or
    ``model`` itself if nothing is random. The settings are those of ``[training.augmentation]``."""
    layers = []
    if elastic:
        layers.append(RandomElastic(elastic, elastic_sigma, name="augment_elastic"))
    if rotation or zoom or shift or flip or shear:
        layers.append(RandomAffine(rotation, zoom, shift, flip, shear=shear, name="augment"))
    if thickness:
        layers.append(RandomThickness(thickness, name="augment_thickness"))
    if low_resolution:
        layers.append(RandomLowResolution(low_resolution, name="augment_low_resolution"))
    if blur:
        layers.append(RandomBlur(blur, name="augment_blur"))
    if contrast or brightness or gamma:
        layers.append(RandomIntensity(contrast, brightness, gamma, name="augment_intensity"))
    if not layers:
        return model
    inputs = keras.Input(shape=model.input_shape[1:], name="input")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, model(x), name=model.name)
