"""Predict image files with a trained run, through exactly the preprocessing it was trained with.

Digits (MNIST models) are first normalised the way MNIST's were
(:func:`shallowdeep.features.digits.normalise_digit`: light on dark, cut to the ink, longer side
20 pixels, centred by centre of mass in 28 x 28), so a digit drawn small in a corner or filling its
frame reads like one from MNIST. Other images are resized to the run's image size. Each
:class:`Prediction` keeps the image the model saw.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shallowdeep.data import get_dataset
from shallowdeep.data.images import read_gray_image, resize_gray
from shallowdeep.evaluation import predict_probabilities, predicted_classes
from shallowdeep.features.digits import normalise_digit
from shallowdeep.prepare import features_from_images
from shallowdeep.runs import Run


@dataclass
class Prediction:
    """One image's class probabilities, the predicted class, the image the model saw (uint8), and
    ``note``: what was done to the image first."""

    path: Path
    predicted: str
    probabilities: dict[str, float]
    model_input: np.ndarray
    note: str = ""


def prepare_image(image: np.ndarray, experiment) -> tuple[np.ndarray, str]:
    """A grey image as the experiment's model expects it (uint8, the run's image size), and a note."""
    if get_dataset(experiment.dataset).digits:
        digit = normalise_digit(image)
        if digit.empty:
            return digit.image, "no ink found: the image is blank"
        inverted = ", inverted from dark on light" if digit.inverted else ""
        return digit.image, f"normalised as MNIST's digits were{inverted}"
    return resize_gray(image, tuple(experiment["dataset"]["image_size"])), ""


def predict_images(run: Run | str | os.PathLike, paths: list[str | os.PathLike]) -> list[Prediction]:
    """Class probabilities for each image file, using the run's model, features and threshold."""
    run = run if isinstance(run, Run) else Run.open(run)
    experiment = run.experiment
    class_names = experiment.class_names
    prepared = [prepare_image(read_gray_image(path), experiment) for path in paths]
    inputs = np.stack([image for image, _ in prepared])
    probabilities = predict_probabilities(run.model, features_from_images(inputs, experiment))
    threshold = run.metrics["test"].get("threshold") if len(class_names) == 2 else None
    return [
        Prediction(Path(path), class_names[index], {name: float(p) for name, p in zip(class_names, row)}, image, note)
        for path, row, (image, note), index in zip(paths, probabilities, prepared,
                                                   predicted_classes(probabilities, threshold))
    ]
