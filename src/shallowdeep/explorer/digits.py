"""Every MNIST run answering one drawing together, and what each network makes of it inside.

The drawing is normalised as MNIST's digits were (:func:`shallowdeep.features.digits.normalise_digit`),
then each run computes its own features from it (:func:`shallowdeep.prepare.features_from_images`:
pixels, HOG or the image), each distinct kind of feature once. All the models are joined into one
Keras model with one input per kind of feature, whose prediction function Keras compiles for the
backend (a ``tf.function`` on TensorFlow, ``jax.jit`` on JAX) and which is called once per drawing
(``predict_on_batch``: no data pipeline, no callbacks). The lab's nine MNIST runs called one by one,
eagerly, took 40.8 ms (median) on a 2-core AMD EPYC Zen 4; the joined, compiled call 5.8 ms,
features included (``python benchmarks/explorer.py``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from shallowdeep.backend import keras
from shallowdeep.explorer.catalog import Entry
from shallowdeep.explorer.pictures import coloured, feature_map_mosaic, filter_mosaic, png_data_url
from shallowdeep.features import hog_image
from shallowdeep.features.digits import FIELD, normalise_digit
from shallowdeep.models import feature_map_model, first_convolution_kernel, has_convolution
from shallowdeep.prepare import features_from_images

#: HOG glyphs are drawn this many times larger than the digit, so 4x4-pixel cells stay readable.
HOG_SCALE = 8


def _features_key(entry: Entry) -> str:
    experiment = entry.run.experiment
    return json.dumps([experiment["features"], experiment["dataset"]["image_size"]], sort_keys=True)


def _outputs(predicted) -> list[np.ndarray]:
    """Keras returns a lone array for a model with one output, a list for several."""
    return [np.asarray(p) for p in predicted] if isinstance(predicted, (list, tuple)) else [np.asarray(predicted)]


@dataclass
class Reading:
    """What the models made of one drawing: the 28 x 28 image they saw, each run's probabilities
    (in the order of the entries), and the time the features and models took, in milliseconds."""

    image: np.ndarray
    empty: bool
    inverted: bool
    probabilities: list[np.ndarray]
    milliseconds: float


class _Inside:
    """One run's insides for a drawing: HOG glyphs, or every convolution's feature maps and the
    first layer's filters (drawn once: they do not depend on the drawing)."""

    def __init__(self, entry: Entry):
        self.entry = entry
        experiment = entry.run.experiment
        self.kind = "mlp"
        if experiment.features == "hog":
            self.kind = "hog"
            hog = experiment["features"]["hog"]
            self.orientations, self.cell = hog["orientations"], hog["pixels_per_cell"]
        elif has_convolution(entry.run.model):
            self.kind = "cnn"
            self.feature_maps, self.layers = feature_map_model(entry.run.model)
            kernel = first_convolution_kernel(entry.run.model)
            self.filters = {"layer": self.layers[0], "shape": list(kernel.shape), "picture": png_data_url(filter_mosaic(kernel))}

    def show(self, digit: np.ndarray) -> dict[str, Any]:
        shown: dict[str, Any] = {"run": self.entry.key, "kind": self.kind}
        experiment = self.entry.run.experiment
        if self.kind == "hog":
            glyphs = hog_image(digit, self.orientations, self.cell, scale=HOG_SCALE)
            shown["hog"] = {"orientations": self.orientations, "pixels_per_cell": self.cell,
                            "features": int(experiment.input_shape[0]),
                            "picture": png_data_url(coloured(glyphs, "magma", 0.0, float(glyphs.max()) or 1.0))}
        elif self.kind == "cnn":
            outputs = _outputs(self.feature_maps.predict_on_batch(features_from_images(digit[None], experiment)))
            shown["filters"] = self.filters
            shown["feature_maps"] = [{"layer": name, "shape": list(maps.shape[1:]), "picture": png_data_url(feature_map_mosaic(maps[0]))}
                                     for name, maps in zip(self.layers, outputs)]
        return shown


class DigitModels:
    """The MNIST runs of the explorer, joined to answer a drawing in one compiled call."""

    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self._lock = threading.Lock()  # one drawing at a time through the models: two cores, no gain in more
        inputs: dict[str, Any] = {}
        self._experiments: dict[str, Any] = {}
        outputs = []
        for index, entry in enumerate(entries):
            key, model = _features_key(entry), entry.run.model
            if key not in inputs:
                inputs[key] = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name=f"features_{len(inputs)}")
                self._experiments[key] = entry.run.experiment
            # Runs of the same preset share their models' names; the joined model needs distinct ones.
            outputs.append(keras.Model(model.inputs[0], model.outputs[0], name=f"run_{index}")(inputs[key]))
        self._order = list(inputs)
        self._joined = keras.Model([inputs[key] for key in self._order], outputs, name="mnist_runs") if entries else None
        self._inside = {entry.key: _Inside(entry) for entry in entries}
        blank = np.zeros((FIELD, FIELD), np.uint8)
        blank[8:20, 13:15] = 255  # a "1": warm-up with ink, so every path (HOG too) runs once
        self.read(blank)
        for inside in self._inside.values():
            inside.show(blank)

    def read(self, drawing: np.ndarray) -> Reading:
        """Every run's probabilities for ``drawing`` (a grey image of one digit, any size)."""
        digit = normalise_digit(drawing)
        if digit.empty or self._joined is None:
            return Reading(digit.image, digit.empty, digit.inverted, [], 0.0)
        with self._lock:
            started = time.perf_counter()
            features = [features_from_images(digit.image[None], self._experiments[key]) for key in self._order]
            probabilities = [row[0] for row in _outputs(self._joined.predict_on_batch(features))]
            milliseconds = 1000 * (time.perf_counter() - started)
        return Reading(digit.image, False, digit.inverted, probabilities, milliseconds)

    def inside_kind(self, key: str) -> str:
        """What run ``key`` shows inside: ``"hog"`` glyphs, ``"cnn"`` feature maps, or ``"mlp"`` (nothing)."""
        return self._inside[key].kind

    def inside(self, key: str, digit: np.ndarray) -> dict[str, Any]:
        """What run ``key`` (one of the entries) makes of the normalised ``digit`` inside."""
        with self._lock:
            return self._inside[key].show(digit)
