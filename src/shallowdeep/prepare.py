"""From an experiment's ``[dataset]`` and ``[features]`` to the arrays a model trains on.

The same :func:`features_from_images` serves training and ``shallowdeep predict``, so a new image
goes through exactly the preprocessing the model was trained with (HOG included).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from shallowdeep.data import DataError, dataset_names, get_dataset, load_synthdigits
from shallowdeep.experiments import Experiment
from shallowdeep.features import cached_hog, clahe
from shallowdeep.features.digits import normalise_digit
from shallowdeep.memory import aligned, aligned_empty

#: How digits from outside MNIST are shown to a model, as image files are by ``shallowdeep predict``
#: (which normalises every digit as MNIST's were): ``fill``, the digit filling its frame as in a
#: drawing or a photo, normalised; ``centred``, the same digit saved already normalised (a 28 x 28
#: PNG, light on dark) and normalised again.
RENDERINGS = ("fill", "centred")


@dataclass
class ImageSplits:
    """The experiment's uint8 images and labels, before features; ``val`` is the dataset's own
    validation split (None for MNIST). ``test_indices`` are the test images' positions in the
    dataset's whole test split (they differ from 0..n-1 when ``test_limit`` takes a subset)."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray]
    test_indices: np.ndarray


@dataclass
class PreparedData:
    """Features (float32) and integer labels of each split, aligned row by row, and the test
    images as they were read (uint8), for showing a model's mistakes.

    Where the features are the pixels scaled (:func:`training_divisor`), ``x_train`` holds the
    uint8 pixels, shaped as the features, and the training loop turns each batch into ``pixel /
    train_divisor`` on the device: the same float32 values, in a quarter of the memory (MNIST's
    training set: 42 MB instead of 169 MB; xray-1's 4,694 chest X-rays at 128 x 128: 77 MB
    instead of 308 MB).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    test_images: np.ndarray
    test_indices: np.ndarray
    train_divisor: float | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def training_divisor(experiment: Experiment) -> float | None:
    """What the training loop divides the uint8 pixels by, batch by batch, where the features are
    the pixels scaled (``raw`` and ``image``, without CLAHE); None where they are computed (HOG,
    CLAHE) and the loop reads them as :func:`features_from_images` makes them."""
    features = experiment["features"]
    if experiment.features in ("raw", "image") and not features["clahe"]:
        return float(features["divide_by"])
    return None


def features_from_images(images: np.ndarray, experiment: Experiment, tag: str | None = None) -> np.ndarray:
    """uint8 images (n, height, width) -> the model's inputs, float32, in aligned memory that the
    training loop reads in place (:func:`shallowdeep.epochs.to_device`).

    ``tag`` names the images for the HOG cache (e.g. ``"mnist-train"``); without it HOG is
    computed without caching.
    """
    features = experiment["features"]
    if experiment.features == "hog":
        hog = features["hog"]
        return aligned(cached_hog(images, tag or "unnamed", hog["orientations"], hog["pixels_per_cell"],
                                  hog["cells_per_block"], hog["block_norm"], cache=tag is not None))
    if features["clahe"]:
        scaled = clahe(images, features["clahe"])
        scaled /= np.float32(features["divide_by"])  # in place: no second copy of a large split
    else:  # the training loop reads this array in place (aligned): the largest split is held once
        scaled = np.divide(images, np.float32(features["divide_by"]), out=aligned_empty(images.shape, np.float32))
    return scaled.reshape(len(images), *features_shape(images.shape[1:], experiment))


def features_shape(image_shape: tuple[int, ...], experiment: Experiment) -> tuple[int, ...]:
    """The shape of one example's ``raw`` or ``image`` features from an image of ``image_shape``."""
    return (int(np.prod(image_shape)),) if experiment.features == "raw" else (*image_shape, 1)


def _subset(count: int, limit: int, seed: int) -> np.ndarray:
    """Indices of a seeded random subset of ``limit`` out of ``count`` (all if 0), in order."""
    if not limit or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def load_images(experiment: Experiment, data_dir: str | os.PathLike | None = None,
                progress: bool = True) -> ImageSplits:
    """The experiment's uint8 image splits, ``train_limit`` and ``test_limit`` applied."""
    dataset = experiment["dataset"]
    seed = dataset["split_seed"] if dataset["split_seed"] >= 0 else experiment["training"]["seed"]
    own_validation = experiment["training"]["validation"] == "dataset"
    train, val, test = get_dataset(experiment.dataset).load(dataset, seed, data_dir, progress, own_validation)
    keep = _subset(len(train[1]), dataset["train_limit"], seed)
    train = train[0][keep], train[1][keep]
    test_indices = _subset(len(test[1]), dataset["test_limit"], seed + 1)
    test = test[0][test_indices], test[1][test_indices]
    return ImageSplits(train, val, test, test_indices)


def prepare_data(
    experiment: Experiment, data_dir: str | os.PathLike | None = None, progress: bool = True
) -> PreparedData:
    """Load the images, split off validation, compute features: everything :func:`train` needs.

    With ``training.validation`` a fraction, the *last* part of train is held out, as Keras'
    ``validation_split`` does; with ``"dataset"``, the dataset's own val split is used.
    """
    splits = load_images(experiment, data_dir, progress)
    (x_train, y_train), (x_test, y_test) = splits.train, splits.test
    validation = experiment["training"]["validation"]
    if validation == "dataset":
        x_val, y_val = splits.val
    else:
        cut = len(x_train) - int(round(validation * len(x_train)))
        (x_train, y_train), (x_val, y_val) = (x_train[:cut], y_train[:cut]), (x_train[cut:], y_train[cut:])
    limited = experiment["dataset"]["train_limit"] or experiment["dataset"]["test_limit"]
    tag = f"{experiment.dataset}{'-subset' if limited else ''}"
    divisor = training_divisor(experiment)
    if divisor is None:
        train_inputs = features_from_images(x_train, experiment, f"{tag}-train")
    else:  # the features' shape, the pixels' bytes: (n, 784) for raw, (n, 28, 28, 1) for image
        train_inputs = aligned(x_train).reshape(len(x_train), *features_shape(x_train.shape[1:], experiment))
    return PreparedData(
        train_inputs, y_train.astype(np.int64),
        features_from_images(x_val, experiment, f"{tag}-val"), y_val.astype(np.int64),
        features_from_images(x_test, experiment, f"{tag}-test"), y_test.astype(np.int64),
        experiment.class_names, x_test, splits.test_indices, divisor,
    )


@dataclass
class DigitRenderings:
    """An evaluation-only set of digits as a model sees it: for each of :data:`RENDERINGS`, the
    (n, 28, 28) uint8 images; the labels and how each digit was made (``sources``), row by row."""

    dataset: str
    images: dict[str, np.ndarray]
    labels: np.ndarray
    sources: np.ndarray


def evaluation_only_datasets() -> list[str]:
    """The datasets that are only ever evaluated on (never trained on)."""
    return dataset_names(trainable=False)


def digit_renderings(dataset: str = "synthdigits") -> DigitRenderings:
    """The digits of an evaluation-only ``dataset`` in each rendering, normalised as ``predict`` does."""
    if dataset not in evaluation_only_datasets():
        raise DataError(f"{dataset!r} is not a set of digits kept for evaluation; choose one of "
                        f"{', '.join(evaluation_only_datasets())}")
    images, labels, sources = load_synthdigits()
    fill = np.stack([normalise_digit(image).image for image in images])
    centred = np.stack([normalise_digit(image).image for image in fill])
    return DigitRenderings(dataset, {"fill": fill, "centred": centred}, labels.astype(np.int64), sources)
