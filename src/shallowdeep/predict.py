"""Predict image files with a trained run, through exactly the preprocessing it was trained with."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from shallowdeep.errors import DataError
from shallowdeep.evaluation import predict_probabilities, predicted_classes
from shallowdeep.prepare import features_from_images
from shallowdeep.runs import Run


@dataclass
class Prediction:
    """One image's class probabilities and the predicted class; ``note`` says what was done to
    the image first (e.g. inverted to light-on-dark)."""

    path: Path
    predicted: str
    probabilities: dict[str, float]
    note: str = ""


def read_image(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """One image file as grayscale uint8 of ``size`` (height, width); errors name the file."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            gray = image.convert("L")
            if gray.size != (size[1], size[0]):
                gray = gray.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(gray, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: not a readable PNG/JPEG image ({error})") from None


def _looks_inverted(image: np.ndarray) -> bool:
    """MNIST digits are light on a dark background; a light border means the opposite."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return float(border.mean()) > 127


def predict_images(run: Run | str | os.PathLike, paths: list[str | os.PathLike]) -> list[Prediction]:
    """Class probabilities for each image file, using the run's model, features and threshold."""
    run = run if isinstance(run, Run) else Run.open(run)
    experiment = run.experiment
    class_names = experiment.class_names
    size = tuple(experiment["dataset"]["image_size"])
    images, notes = [], []
    for path in paths:
        image = read_image(path, size)
        note = ""
        if experiment.dataset == "mnist" and _looks_inverted(image):
            image, note = 255 - image, "inverted (dark digit on a light background)"
        images.append(image)
        notes.append(note)
    probabilities = predict_probabilities(run.model, features_from_images(np.stack(images), experiment))
    threshold = run.metrics["test"].get("threshold") if len(class_names) == 2 else None
    return [
        Prediction(Path(path), class_names[index], {name: float(p) for name, p in zip(class_names, row)}, note)
        for path, row, note, index in zip(paths, probabilities, notes, predicted_classes(probabilities, threshold))
    ]
