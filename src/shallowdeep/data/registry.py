"""Every dataset shallowdeep trains or evaluates on, by name, behind one registry.

Each dataset is one module of :mod:`shallowdeep.data` that defines a :class:`Dataset` and
registers it (after timm's models registered by name): its facts (:class:`DatasetInfo`), how
to load and verify it, what ``--quick`` trains on, which image sizes it has, whether it brings
its own validation split, and what its images are (digits, chest X-rays). The rest of the
package asks the dataset through these hooks and never compares a dataset's name:

>>> from shallowdeep.data import get_dataset
>>> get_dataset("mnist").digits, get_dataset("mnist").own_validation
(True, False)

Adding a dataset is one module and one line in ``shallowdeep/data/__init__.py`` that imports it
(ARCHITECTURE.md, "How to extend").
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from shallowdeep.data.info import DATASETS, DatasetInfo
from shallowdeep.errors import DataError

if TYPE_CHECKING:
    from shallowdeep.data.files import FileCheck

#: One split: uint8 images (n, height, width) and their integer labels.
Split = tuple[np.ndarray, np.ndarray]


class Dataset(ABC):
    """What the rest of shallowdeep may ask of a dataset. A subclass sets :attr:`info` and the
    class attributes that differ from these defaults, and implements :meth:`load` and :meth:`check`."""

    info: ClassVar[DatasetInfo]
    #: Handwritten digits as MNIST's: ``predict`` normalises a drawn digit as MNIST's were, and a
    #: model trained on it can be evaluated on the digits from outside MNIST (synthdigits).
    digits: ClassVar[bool] = False
    #: Chest X-rays, normal or pneumonia: the explorer reads an uploaded X-ray with its models.
    xrays: ClassVar[bool] = False
    #: The part of the lab (spec/lab.md) its experiments answer: the digits' questions (Q1-Q3) or
    #: the chest X-rays' (Q4); None: shown only under "Beyond the lab".
    lab_part: ClassVar[Literal["digits", "xrays"] | None] = None
    #: Read from a folder of images that ``dataset.path`` (or ``lab --xray-dir``) names; a folder
    #: with a test split by patient, which ``lab --suite best`` adapts to in two halves.
    reads_folder: ClassVar[bool] = False
    #: A validation split of its own: ``training.validation = "dataset"`` is allowed.
    own_validation: ClassVar[bool] = False
    #: ``--quick``: the settings that train on a small slice for one epoch.
    quick: ClassVar[Mapping[str, Any]] = {}

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def trainable(self) -> bool:
        return not self.info.evaluation_only

    @property
    def how_to_get(self) -> str:
        """What a user does to have it: downloaded on first use, unless the dataset says otherwise."""
        return f"downloaded on first use from {self.info.homepage} (or `shallowdeep data --download {self.name}`)"

    def resolve(self, section: Mapping[str, Any]) -> dict[str, Any]:
        """An experiment's ``dataset`` section with what the dataset fills in (an image folder's
        class names); a :class:`DataError` says what the section lacks."""
        return dict(section)

    def class_names(self, section: Mapping[str, Any]) -> tuple[str, ...]:
        """The names of the classes, label 0 first."""
        return self.info.classes

    def sample_counts(self, section: Mapping[str, Any]) -> dict[str, int]:
        """Images in each split, before limits."""
        return dict(self.info.n_samples)

    def image_size_problem(self, size: Sequence[int]) -> str | None:
        """What ``dataset.image_size`` must be instead of ``size``, or None when ``size`` is fine."""
        return None

    def validation_sizes(self, section: Mapping[str, Any]) -> tuple[int, int]:
        """(train, validation) examples with ``training.validation = "dataset"``, before limits."""
        counts = self.sample_counts(section)
        return counts["train"], counts.get("val", 0)

    @abstractmethod
    def load(self, section: Mapping[str, Any], seed: int, data_dir: str | os.PathLike | None,
             progress: bool, own_validation: bool) -> tuple[Split, Split | None, Split]:
        """(train, validation or None, test) for an experiment's ``dataset`` section, the splits it
        carves drawn with ``seed``. ``own_validation``: the experiment validates on the dataset's own
        split (``training.validation = "dataset"``); without it, none need be carved from train."""

    @abstractmethod
    def check(self, data_dir: str | os.PathLike | None, download: bool, progress: bool) -> list[FileCheck]:
        """The state of each of its files in the data directory, downloading missing ones if asked."""


_REGISTRY: dict[str, Dataset] = {}


def register(dataset: type[Dataset]) -> type[Dataset]:
    """Class decorator: make ``dataset`` known by its :attr:`DatasetInfo.name`."""
    name = dataset.info.name
    if name in _REGISTRY:
        raise ValueError(f"a dataset named {name!r} is registered already ({type(_REGISTRY[name]).__module__})")
    _REGISTRY[name] = dataset()
    return dataset


def get_dataset(name: str) -> Dataset:
    """The registered dataset called ``name``; an unknown name is a :class:`DataError` naming the known ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}") from None


def dataset_names(*, trainable: bool | None = None) -> list[str]:
    """The registered datasets' names in the order of :data:`DATASETS` (the order ``shallowdeep data``
    shows); only those trained on (or only the evaluation-only ones) with ``trainable=True`` (``False``)."""
    order = list(DATASETS)
    names = sorted(_REGISTRY, key=lambda name: order.index(name) if name in order else len(order))
    return [name for name in names if trainable is None or _REGISTRY[name].trainable == trainable]
