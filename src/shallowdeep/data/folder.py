"""A folder of images, one subfolder per class: anyone's own images, and the form the chest X-ray
folder takes.

Layout: ``<root>/{train,val,test}/<class>/<image>``, folder names in any letter case, ``val``
optional. Every image (JPEG or PNG, grayscale or colour, 8 or 16 bits, any size) becomes one
grayscale uint8 array of ``image_size``, by the rule ``predict`` reads image files with
(:func:`shallowdeep.data.images.to_gray`); each label is read from the folder that holds the
image, in the same pass, so images and labels can never come apart. Files are taken in sorted path
order, which makes the result identical from run to run and machine to machine.

Without a ``val`` folder, a validation split is carved out of ``train``, stratified by class, whole
groups at a time where the images have groups (the chest X-rays' patients).

>>> sd.train("cnn-1", **{"dataset.name": "folder", "dataset.path": "my-images", "dataset.image_size": [64, 64]})  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from shallowdeep.cache import cached_arrays
from shallowdeep.data.files import FileCheck
from shallowdeep.data.images import resize_gray, to_gray
from shallowdeep.data.info import FOLDER
from shallowdeep.data.registry import Dataset, register
from shallowdeep.errors import DataError, DataWarning

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png"})
_KNOWN_JUNK = frozenset({"thumbs.db", "desktop.ini"})
SPLITS = ("train", "val", "test")
#: Bump when decoding changes, so that caches made by older code are not used.
#: 2: 16-bit images scaled to 0-255 (they were clipped), transparency filled (shallowdeep.data.images).
_DECODER_VERSION = 2
#: A val folder smaller than this is too small to judge a model (Kaggle's chest X-rays have 16 images).
_SMALL_VAL = 100

Split = tuple[np.ndarray, np.ndarray]
Splits = tuple[Split, Split, Split]


@dataclass(frozen=True)
class ImageList:
    """The image files of one split in load order, with their labels (index into the class names)."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]


def _children_by_lower_name(folder: Path) -> dict[str, Path]:
    children: dict[str, Path] = {}
    for child in sorted(folder.iterdir()):
        if not child.is_dir():
            continue
        key = child.name.lower()
        if key in children:
            raise DataError(
                f"{folder} has both {children[key].name!r} and {child.name!r}; folder names are "
                f"matched in any letter case, so keep only one of them"
            )
        children[key] = child
    return children


def _is_image_name(path: Path) -> bool:
    # "._name.jpeg" files are macOS resource forks, not images.
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("._")


def _kind_of_skipped(path: Path) -> str:
    if path.is_dir():
        return "folders"
    if path.name.startswith(".") or path.suffix == "" or path.name.lower() in _KNOWN_JUNK:
        return path.name
    return "*" + path.suffix.lower()


def folder_classes(root: str | os.PathLike) -> tuple[str, ...]:
    """The class names of an image folder: the subfolders of its ``train`` folder, as spelled there,
    in case-insensitive order (the order of the labels 0, 1, ...)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    train = _children_by_lower_name(root).get("train")
    if train is None:
        raise DataError(f"{root} has no 'train' folder; expected {{train,val,test}}/<one folder per class>/ inside it")
    classes = tuple(sorted((child.name for child in _children_by_lower_name(train).values()), key=str.lower))
    if len(classes) < 2:
        raise DataError(f"{train} holds {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); "
                        f"a classifier needs one folder per class, at least two")
    return classes


def scan_image_folder(
    root: str | os.PathLike, classes: Sequence[str], *, what: str = "image folder", how_to_get: str = "",
) -> tuple[dict[str, ImageList], list[Path]]:
    """The image files of each split present under ``root`` and the non-image files skipped.

    Raises :class:`DataError` when ``root``, ``train``, ``test`` or a class folder is missing, or a
    class folder holds no image; ``how_to_get`` ends the messages of what is missing altogether.
    """
    root = Path(root)
    tail = f" {how_to_get}" if how_to_get else ""
    if not root.is_dir():
        raise DataError(f"{what} {root} does not exist.{tail}")
    split_dirs = _children_by_lower_name(root)
    for required in ("train", "test"):
        if required not in split_dirs:
            raise DataError(
                f"{root} has no '{required}' folder (found: {sorted(split_dirs) or 'no folders'}); "
                f"expected {{train,val,test}}/{{{','.join(classes)}}}/ inside it.{tail}"
            )
    splits: dict[str, ImageList] = {}
    skipped: list[Path] = []
    for split in SPLITS:
        if split not in split_dirs:
            continue
        class_dirs = _children_by_lower_name(split_dirs[split])
        paths: list[Path] = []
        labels: list[int] = []
        for label, class_name in enumerate(classes):
            class_dir = class_dirs.get(class_name.lower())
            if class_dir is None:
                raise DataError(
                    f"{split_dirs[split]} has no '{class_name}' folder "
                    f"(found: {sorted(class_dirs) or 'no folders'})"
                )
            images = []
            for entry in sorted(class_dir.iterdir()):
                (images if entry.is_file() and _is_image_name(entry) else skipped).append(entry)
            if not images:
                raise DataError(
                    f"{class_dir} holds no image (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            paths += images
            labels += [label] * len(images)
        splits[split] = ImageList(tuple(paths), tuple(labels))
    return splits, skipped


def decode_image(path: Path, image_size: tuple[int, int]) -> np.ndarray:
    """One image file as a grayscale uint8 array of ``image_size`` (height, width).

    Grey levels by :func:`~shallowdeep.data.images.to_gray`'s rule (colour becomes luma, ITU-R 601:
    0.299 R + 0.587 G + 0.114 B; 16-bit is scaled, not clipped); the resize is bilinear without
    keeping the aspect ratio, as ``keras.utils.image_dataset_from_directory`` does.
    """
    height, width = image_size
    with Image.open(path) as image:
        image.draft("L", (width, height))  # JPEG: decode large files at a reduced scale, fast
        return resize_gray(to_gray(image, name=path.name), (height, width))


def _decode_all(
    paths: tuple[Path, ...], image_size: tuple[int, int], desc: str, progress: bool
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode ``paths`` in parallel (Pillow releases the GIL), in order; failures as (index, reason)."""

    def attempt(path: Path):
        try:
            return decode_image(path, image_size)
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError, DataError) as error:
            return f"{type(error).__name__}: {error}"

    images = np.zeros((len(paths), *image_size), dtype=np.uint8)
    failures: list[tuple[int, str]] = []
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(attempt, paths, chunksize=32)
        for index, result in enumerate(
            tqdm(results, total=len(paths), desc=desc, unit="img", disable=None if progress else True)
        ):
            if isinstance(result, str):
                failures.append((index, result))
            else:
                images[index] = result
    return images, failures


def _load_split(
    split: str, files: ImageList, image_size: tuple[int, int], skip_unreadable: bool, progress: bool
) -> dict[str, np.ndarray]:
    images, failures = _decode_all(files.paths, image_size, f"decoding {split}", progress)
    labels = np.asarray(files.labels, dtype=np.uint8)
    index = np.arange(len(files.paths))
    if failures:
        listing = "\n".join(f"  {files.paths[index]}: {reason}" for index, reason in failures[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        if not skip_unreadable:
            raise DataError(
                f"{len(failures)} image(s) in {split} cannot be read:\n{listing}{more}\n"
                f"Fix: replace or delete them, or pass skip_unreadable=True "
                f"(--skip-unreadable) to leave them out."
            )
        warnings.warn(
            f"left out {len(failures)} unreadable image(s) in {split}:\n{listing}{more}",
            DataWarning,
            stacklevel=3,
        )
        keep = np.ones(len(files.paths), dtype=bool)
        keep[[index for index, _ in failures]] = False
        images, labels, index = images[keep], labels[keep], index[keep]
    # index: position in the file list of each image kept, to recover its path (and patient).
    return {f"{split}_images": images, f"{split}_labels": labels, f"{split}_index": index}


def carve_validation(
    labels: np.ndarray, groups: list[str], fraction: float, seed: int
) -> np.ndarray:
    """A boolean mask selecting about ``fraction`` of each class for validation, whole groups at a time.

    Within each class the groups (patients) are shuffled with ``seed`` and taken until the class
    has ``round(fraction * class size)`` validation images (the last group may overshoot it).
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {fraction!r}")
    rng = np.random.default_rng(seed)
    groups_array = np.asarray(groups)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        in_class = labels == label
        class_groups = np.unique(groups_array[in_class])
        target = round(fraction * int(in_class.sum()))
        taken = 0
        for group in rng.permutation(class_groups):
            if taken >= target:
                break
            members = in_class & (groups_array == group)
            mask |= members
            taken += int(members.sum())
    return mask


def load_image_folder(
    root: str | os.PathLike,
    classes: Sequence[str],
    image_size: tuple[int, int],
    val_fraction: float = 0.1,
    seed: int = 0,
    *,
    groups: Callable[[Path], str] | None = None,
    use_val_folder: bool = True,
    carve: bool = True,
    skip_unreadable: bool = False,
    cache: bool = True,
    cache_name: str = "folder",
    what: str = "image folder",
    how_to_get: str = "",
    progress: bool = True,
) -> Splits:
    """An image folder as ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``: uint8 (n,
    height, width) grayscale images and uint8 labels, the index of each image's class in ``classes``.

    Without a ``val`` folder (or with ``use_val_folder=False``), ``val_fraction`` of each class of
    ``train`` is moved to validation, drawn with ``seed``, whole ``groups`` at a time (the group of
    an image file, e.g. its patient; each image its own without); with ``carve=False``, none is
    (the validation is None). An unreadable image raises
    :class:`DataError` naming it, or with ``skip_unreadable`` is left out and named in a warning.
    With ``cache``, the decoded arrays are kept under ``cache_name``, keyed by every file's path,
    size and modification time: the next load takes a fraction of a second.
    """
    root = Path(root).resolve()
    height, width = (int(side) for side in image_size)
    if height < 1 or width < 1:
        raise DataError(f"image_size must be two positive integers, got {image_size!r}")
    splits, skipped = scan_image_folder(root, classes, what=what, how_to_get=how_to_get)
    if skipped:
        kinds = Counter(_kind_of_skipped(entry) for entry in skipped)
        warnings.warn(
            f"skipped {len(skipped)} non-image file(s) under {root}: "
            + ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items())),
            DataWarning,
            stacklevel=3,
        )

    key = {
        "decoder": _DECODER_VERSION,
        "image_size": [height, width],
        "skip_unreadable": skip_unreadable,
        "files": {
            split: [[str(p.relative_to(root)), label, *_stat(p)] for p, label in zip(files.paths, files.labels)]
            for split, files in splits.items()
        },
    }

    def decode() -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for split, files in splits.items():
            arrays |= _load_split(split, files, (height, width), skip_unreadable, progress)
        return arrays

    arrays = cached_arrays(cache_name, key, decode, enabled=cache)
    train = arrays["train_images"], arrays["train_labels"]
    test = arrays["test_images"], arrays["test_labels"]
    if use_val_folder and "val" in splits:
        val = arrays["val_images"], arrays["val_labels"]
        if len(val[1]) < _SMALL_VAL:
            warnings.warn(
                f"the val folder of {root} has only {len(val[1])} images: too few to judge a model "
                f"(one image is {100 / len(val[1]):.2f} points). Pass use_val_folder=False to "
                f"carve a validation split out of train instead.",
                DataWarning,
                stacklevel=3,
            )
        return train, val, test
    if not carve:
        return train, None, test

    paths = [splits["train"].paths[i] for i in arrays["train_index"]]
    in_val = carve_validation(train[1], [groups(path) if groups else str(path) for path in paths], val_fraction, seed)
    return (train[0][~in_val], train[1][~in_val]), (train[0][in_val], train[1][in_val]), test


def _stat(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


@register
class ImageFolder(Dataset):
    """Any folder of images with one subfolder per class, named by ``dataset.path``; its class
    names are read into ``dataset.classes`` when the experiment is loaded, so that a run keeps them
    where the folder is gone."""

    info = FOLDER
    #: What the folder is called in messages.
    what = "image folder"
    reads_folder = True
    own_validation = True
    quick = {"dataset.train_limit": 400, "dataset.test_limit": 200, "training.epochs": 1,
             "training.warmup_epochs": 0.0}

    @property
    def how_to_get(self) -> str:
        return ("name your folder: --set dataset.path=DIR, with DIR/train/<class>/ and DIR/test/<class>/ "
                "(DIR/val/<class>/ optional), JPEG or PNG images of any size")

    def resolve(self, section: Mapping[str, Any]) -> dict[str, Any]:
        if not section["path"]:
            raise DataError(f"dataset.path is empty: {self.how_to_get}")
        try:
            classes = section["classes"] or list(folder_classes(section["path"]))
        except DataError as error:
            raise DataError(f"dataset.path = {section['path']!r}: {error}") from None
        return {**section, "classes": classes}

    def class_names(self, section: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(section["classes"]) or self.info.classes

    def root(self, section: Mapping[str, Any], data_dir: str | os.PathLike | None) -> Path:
        """The folder an experiment reads."""
        return Path(section["path"])

    def group_of(self, path: Path) -> str:
        """What a validation carved from train keeps together: here each image alone."""
        return str(path)

    def sample_counts(self, section: Mapping[str, Any]) -> dict[str, int]:
        splits, _ = scan_image_folder(section["path"], self.class_names(section))
        return {split: len(files.paths) for split, files in splits.items()}

    def validation_sizes(self, section):
        counts = self.sample_counts(section)
        if "val" in counts:
            return counts["train"], counts["val"]
        validation = round(counts["train"] * section["val_fraction"])
        return counts["train"] - validation, validation

    def load(self, section, seed, data_dir, progress, own_validation):
        train, val, test = load_image_folder(
            self.root(section, data_dir), self.class_names(section), tuple(section["image_size"]),
            section["val_fraction"], seed, groups=self.group_of, carve=own_validation, cache_name=self.name,
            what=self.what, how_to_get=self.how_to_get, progress=progress)
        if not own_validation:  # a fraction is cut from the end of train, whose files come class by class
            order = np.random.default_rng(seed).permutation(len(train[1]))
            train = train[0][order], train[1][order]
        return train, val, test

    def check(self, data_dir, download, progress) -> list[FileCheck]:
        return []  # nothing in the data directory: each experiment names its folder
