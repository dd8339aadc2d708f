"""What a trained model does at inference, layer by layer: for looking inside it.

Every builder of shallowdeep makes a *chain*, each layer reading the previous one's output, and
:func:`~shallowdeep.models.with_augmentation` puts the chain inside a wrapper behind its
augmentation layers, which pass images through unchanged at inference.
:func:`inference_layers` flattens that back into the list of layers an image goes through, so
that the explorer can show every convolution's feature maps and Grad-CAM can cut the network at
its last convolution, whatever wrapping a run saved.
"""

from __future__ import annotations

from shallowdeep.backend import keras
from shallowdeep.models.augmentation import AUGMENTATION_LAYERS
from shallowdeep.models.registry import ModelError

#: Layers that follow a convolution and belong to its stage: the stage's output is the last of them.
_STAGE_FOLLOWERS = (keras.layers.BatchNormalization, keras.layers.Activation)


def inference_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers an input goes through at inference, in order: nested models opened, input
    layers and the augmentation layers (identities at inference) left out.

    Raises :class:`ModelError` for a layer that reads several inputs (a residual ``Add``, a
    ``Concatenate``): such a network is not a chain.
    """
    layers: list[keras.layers.Layer] = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.InputLayer, *AUGMENTATION_LAYERS.values())):
            continue
        if isinstance(layer, keras.Model):
            layers.extend(inference_layers(layer))
            continue
        if isinstance(layer.input, (list, tuple)):
            raise ModelError(f"layer {layer.name!r} of {model.name!r} reads {len(layer.input)} inputs; "
                             f"only chains of layers can be looked inside")
        layers.append(layer)
    return layers


def has_convolution(model: keras.Model) -> bool:
    """Whether ``model`` (or a model nested in it) has a 2-D convolution."""
    return any(isinstance(layer, keras.layers.Conv2D) or (isinstance(layer, keras.Model) and has_convolution(layer))
               for layer in model.layers)


def convolution_stages(layers: list[keras.layers.Layer]) -> list[int]:
    """For each 2-D convolution, the index of the last layer of its stage: the convolution itself,
    or the batch normalisation and activation right after it (``conv -> BN -> ReLU``), so that a
    stage's output is what the convolution contributes once activated."""
    ends = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        end = index
        while end + 1 < len(layers) and isinstance(layers[end + 1], _STAGE_FOLLOWERS):
            end += 1
        ends.append(end)
    return ends


def feature_map_model(model: keras.Model) -> tuple[keras.Model, list[str]]:
    """A model from the input to every convolution stage's output (see :func:`convolution_stages`),
    and the names of those convolutions. Raises :class:`ModelError` for a model with no convolution."""
    layers = inference_layers(model)
    ends = convolution_stages(layers)
    if not ends:
        raise ModelError(f"{model.name!r} has no convolution to show")
    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="image")
    x, outputs = inputs, []
    for index, layer in enumerate(layers[: ends[-1] + 1]):
        x = layer(x)
        if index in ends:
            outputs.append(x)
    names = [layer.name for layer in layers if isinstance(layer, keras.layers.Conv2D)]
    return keras.Model(inputs, outputs, name=f"{model.name}_feature_maps"), names


def first_convolution_kernel(model: keras.Model):
    """The first convolution's kernel as a NumPy array (height, width, input channels, filters),
    or None if the model has no convolution."""
    for layer in inference_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            return keras.ops.convert_to_numpy(layer.kernel)
    return None
