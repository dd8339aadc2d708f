"""The builders of the lab's models: MLPs, the report's CNNs and a VGG-style network.

The output layer always computes in float32, even under mixed precision: softmax, sigmoid and the
loss need its range.

Importing this module loads no backend, so that an experiment's builder and its arguments are
checked (:mod:`shallowdeep.experiments`) before one starts: a sweep's driver and ``shallowdeep
list`` never start one. Each builder imports Keras when it builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from shallowdeep.models.registry import ModelError, register_model

if TYPE_CHECKING:
    import keras


def _output(units: int, activation: str) -> keras.layers.Layer:
    from shallowdeep.backend import keras

    return keras.layers.Dense(units, activation=activation, dtype="float32", name="output")


def _dropout(rate: float, dtype: str, name: str) -> keras.layers.Layer:
    """Dropout with a seed of its own, drawn from the global generators (``set_random_seed``).

    Seeded, its random masks come from a ``SeedGenerator`` that the model owns, on every backend,
    so a checkpoint can keep their state; unseeded, Keras' PyTorch backend takes them from torch's
    global generator, which a resumed run could not restore.
    """
    from shallowdeep.backend import keras

    return keras.layers.Dropout(rate, seed=int(np.random.randint(0, 2**31 - 1)), dtype=dtype, name=name)


def _dense_stack(x, units: list[int], activations: list[str], dropout: float, dtype: str):
    from shallowdeep.backend import keras

    for index, (width, activation) in enumerate(zip(units, activations), start=1):
        x = keras.layers.Dense(width, activation=activation, dtype=dtype, name=f"dense_{index}")(x)
        if dropout:
            x = _dropout(dropout, dtype, f"dropout_{index}")(x)
    return x


@register_model
def mlp(
    input_shape, outputs, output_activation, dtype,
    hidden: list[int] = (512,),
    activation: str | list[str] = "sigmoid",
    dropout: float = 0.0,
) -> keras.Model:
    """Multilayer perceptron: ``hidden`` Dense layers (each followed by Dropout if ``dropout``).

    ``activation`` is one name for every hidden layer or one per layer (the report's raw-3 uses
    sigmoid then relu).
    """
    from shallowdeep.backend import keras

    hidden = list(hidden)
    activations = [activation] * len(hidden) if isinstance(activation, str) else list(activation)
    if len(activations) != len(hidden):
        raise ModelError(f"activation lists {len(activations)} names for {len(hidden)} hidden layers")
    inputs = keras.Input(shape=input_shape, name="input")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    x = _dense_stack(x, hidden, activations, dropout, dtype)
    return keras.Model(inputs, _output(outputs, output_activation)(x), name="mlp")


@register_model
def cnn(
    input_shape, outputs, output_activation, dtype,
    filters: list[int] = (32, 32, 32),
    kernel_size: int = 2,
    activation: str = "relu",
    pool: str = "last",
    pool_size: int = 2,
    dense: list[int] = (64,),
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> keras.Model:
    """Convolutions (``same`` padding) with max-pooling, then a dense part.

    ``pool="last"``: the convolutions are chained and only the last one is pooled, exactly as the
    reference report's code runs (its two other pooling layers are built but never connected).
    ``pool="each"``: a pool after every convolution, the evidently intended design.
    """
    from shallowdeep.backend import keras

    filters, dense = list(filters), list(dense)
    if pool not in ("last", "each"):
        raise ModelError(f"pool must be 'last' or 'each', got {pool!r}")
    pools = len(filters) if pool == "each" else 1
    side = min(input_shape[:2])
    for _ in range(pools):
        side //= pool_size
    if side < 1:
        raise ModelError(
            f"{pools} max-pool(s) of size {pool_size} shrink the {input_shape[0]}x{input_shape[1]} "
            f"input below 1 pixel; use fewer convolutions, pool='last' or a smaller pool_size"
        )
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for index, count in enumerate(filters, start=1):
        x = keras.layers.Conv2D(
            count, kernel_size, padding="same", activation=None if batch_norm else activation,
            dtype=dtype, name=f"conv_{index}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(dtype=dtype, name=f"bn_{index}")(x)
            x = keras.layers.Activation(activation, dtype=dtype, name=f"act_{index}")(x)
        if pool == "each" or index == len(filters):
            x = keras.layers.MaxPooling2D(pool_size, dtype=dtype, name=f"pool_{index}")(x)
    x = keras.layers.Flatten(dtype=dtype, name="flatten")(x)
    x = _dense_stack(x, dense, [activation] * len(dense), dropout, dtype)
    return keras.Model(inputs, _output(outputs, output_activation)(x), name="cnn")


@register_model
def convnet(
    input_shape, outputs, output_activation, dtype,
    blocks: list[list[int]] = ((32, 32), (64, 64)),
    kernel_size: int = 3,
    stride: int = 1,
    activation: str = "relu",
    batch_norm: str = "after_pool",
    block_dropout: float = 0.0,
    head: str = "flatten",
    dense: list[int] = (128,),
    dropout: float = 0.0,
    standardize: bool = False,
    equalize: bool = False,
) -> keras.Model:
    """VGG-style network with batch normalisation, for the ``best`` suite.

    Each block is a list of filter counts, one ``k x k`` convolution (``same`` padding) per count,
    then a 2x2 max-pool and Dropout ``block_dropout``. ``stride`` applies to the very first
    convolution (2 halves the image before any other work: the cheap way to run large X-rays).
    ``head``: ``"flatten"`` or ``"gap"`` (global average pooling, one value per channel), then the
    ``dense`` layers and Dropout ``dropout``.

    ``batch_norm`` (Ioffe & Szegedy 2015) says where activations are normalised:
    ``"after_conv"``: ``Conv (no bias) -> BN -> activation`` for every convolution and dense layer,
    the classic placement; ``"after_pool"``: once per block, after its pool, on 4x fewer values
    (Keras' batch norm dominates a small CNN's time on a CPU: measured 4x slower per epoch on
    MNIST with ``after_conv``); ``"none"``.

    ``standardize``: each image standardised by its own mean and standard deviation first
    (:class:`~shallowdeep.models.normalization.PerImageStandardization`), after any augmentation.
    ``equalize``: each image's histogram equalised first
    (:class:`~shallowdeep.models.normalization.HistogramEqualization`; images scaled to [0, 1]).
    """
    from shallowdeep.backend import keras
    from shallowdeep.models.normalization import HistogramEqualization, PerImageStandardization

    blocks, dense = [list(block) for block in blocks], list(dense)
    if head not in ("flatten", "gap"):
        raise ModelError(f"head must be 'flatten' or 'gap', got {head!r}")
    if batch_norm not in ("after_conv", "after_pool", "none"):
        raise ModelError(f"batch_norm must be 'after_conv', 'after_pool' or 'none', got {batch_norm!r}")
    side = min(input_shape[:2]) // stride // 2 ** len(blocks)
    if side < 1:
        raise ModelError(
            f"stride {stride} and {len(blocks)} max-pools shrink the {input_shape[0]}x{input_shape[1]} "
            f"input below 1 pixel; use fewer blocks"
        )
    per_layer = batch_norm == "after_conv"

    def layer_then_activation(x, layer, name):
        x = layer(x)
        if per_layer:
            x = keras.layers.BatchNormalization(dtype=dtype, name=f"bn_{name}")(x)
        return keras.layers.Activation(activation, dtype=dtype, name=f"act_{name}")(x)

    inputs = keras.Input(shape=input_shape, name="input")
    x = HistogramEqualization(dtype=dtype, name="equalize")(inputs) if equalize else inputs
    x = PerImageStandardization(dtype=dtype, name="standardize")(x) if standardize else x
    for b, block in enumerate(blocks, start=1):
        for c, count in enumerate(block, start=1):
            first = b == 1 and c == 1
            conv = keras.layers.Conv2D(count, kernel_size, strides=stride if first else 1, padding="same",
                                       use_bias=not per_layer, dtype=dtype, name=f"conv_{b}_{c}")
            x = layer_then_activation(x, conv, f"{b}_{c}")
        x = keras.layers.MaxPooling2D(2, dtype=dtype, name=f"pool_{b}")(x)
        if batch_norm == "after_pool":
            x = keras.layers.BatchNormalization(dtype=dtype, name=f"bn_{b}")(x)
        if block_dropout:
            x = _dropout(block_dropout, dtype, f"dropout_block_{b}")(x)
    if head == "gap":
        x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="gap")(x)
    else:
        x = keras.layers.Flatten(dtype=dtype, name="flatten")(x)
    for index, width in enumerate(dense, start=1):
        layer = keras.layers.Dense(width, use_bias=not per_layer, dtype=dtype, name=f"dense_{index}")
        x = layer_then_activation(x, layer, f"dense_{index}")
    if dropout:
        x = _dropout(dropout, dtype, "dropout")(x)
    return keras.Model(inputs, _output(outputs, output_activation)(x), name="convnet")
