"""The pediatric chest X-ray folder of Kermany et al. (2018), loaded as aligned arrays.

Layout: ``<root>/{train,val,test}/{NORMAL,PNEUMONIA}/<image>``, folder names in any letter case,
``val`` optional. Every image (JPEG or PNG, grayscale or RGB, 8 or 16 bits, any size) becomes one
grayscale uint8 array of ``image_size``, by the rule ``predict`` reads image files with
(:func:`shallowdeep.data.images.to_gray`); each label is read from the folder that holds the
image, in the same pass, so images and labels can never come apart. Files are taken in sorted path
order, which makes the result identical from run to run and machine to machine.

Without a ``val`` folder, a validation split is carved out of ``train``: stratified by class and
grouped by patient (the file names carry a patient id), so no patient is in both train and val.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from shallowdeep.cache import cached_arrays
from shallowdeep.data.files import CORRUPT, MISSING, UNVERIFIED, VERIFIED, FileCheck
from shallowdeep.data.images import resize_gray, to_gray
from shallowdeep.data.info import CHEST_XRAY, CHEST_XRAY_FOLDERS, CHEST_XRAY_HOW_TO_GET
from shallowdeep.data.registry import Dataset, register
from shallowdeep.errors import DataError, DataWarning
from shallowdeep.paths import resolve_data_dir

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png"})
_KNOWN_JUNK = frozenset({"thumbs.db", "desktop.ini"})
CLASS_NAMES = CHEST_XRAY.classes
_SPLITS = ("train", "val", "test")
#: Bump when decoding changes, so that caches made by older code are not used.
#: 2: 16-bit images scaled to 0-255 (they were clipped), transparency filled (shallowdeep.data.images).
_DECODER_VERSION = 2
#: A val folder smaller than this is too small to judge a model (Kaggle's has 16 images).
_SMALL_VAL = 100

Splits = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ImageList:
    """The image files of one split in load order, with their labels (index into CLASS_NAMES)."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]


def find_chest_xray(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first of ``chest_xray``, ``chest_xray_224`` that exists in the data directory."""
    root = resolve_data_dir(data_dir)
    for name in CHEST_XRAY_FOLDERS:
        if (root / name).is_dir():
            return root / name
    return None


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


def scan_chest_xray(root: str | os.PathLike) -> tuple[dict[str, ImageList], list[Path]]:
    """The image files of each split present under ``root`` and the non-image files skipped.

    Raises :class:`DataError` when ``root``, ``train``, ``test`` or a class folder is missing,
    or a class folder holds no image.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"chest X-ray folder {root} does not exist. {CHEST_XRAY_HOW_TO_GET}")
    split_dirs = _children_by_lower_name(root)
    for required in ("train", "test"):
        if required not in split_dirs:
            raise DataError(
                f"{root} has no '{required}' folder (found: {sorted(split_dirs) or 'no folders'}); "
                f"expected {{train,val,test}}/{{NORMAL,PNEUMONIA}}/ inside it. {CHEST_XRAY_HOW_TO_GET}"
            )
    splits: dict[str, ImageList] = {}
    skipped: list[Path] = []
    for split in _SPLITS:
        if split not in split_dirs:
            continue
        class_dirs = _children_by_lower_name(split_dirs[split])
        paths: list[Path] = []
        labels: list[int] = []
        for label, class_name in enumerate(CLASS_NAMES):
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


_PATIENT = re.compile(r"^(person\d+)_|^((?:NORMAL\d*-)?IM-\d+)-", re.IGNORECASE)


def patient_id(path: str | os.PathLike) -> str:
    """The patient a Kermany file name belongs to: ``person1000_bacteria_2931.jpeg`` ->
    ``person1000``, ``NORMAL2-IM-1427-0001.jpeg`` -> ``NORMAL2-IM-1427``; other names -> their stem."""
    name = Path(path).name
    match = _PATIENT.match(name)
    return next(group for group in match.groups() if group) if match else Path(name).stem


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


def load_chest_xray(
    path: str | os.PathLike | None = None,
    image_size: tuple[int, int] = (128, 128),
    val_fraction: float = 0.1,
    seed: int = 0,
    *,
    use_val_folder: bool = True,
    skip_unreadable: bool = False,
    data_dir: str | os.PathLike | None = None,
    cache: bool = True,
    progress: bool = True,
) -> Splits:
    """The chest X-ray tree as ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``.

    Images are uint8 (n, height, width) grayscale; labels uint8, 0 = NORMAL, 1 = PNEUMONIA.

    Parameters
    ----------
    path
        The folder holding ``train/`` and ``test/`` (any letter case). Default: ``chest_xray`` or
        ``chest_xray_224`` inside the data directory.
    image_size
        (height, width) every image is resized to.
    val_fraction, seed
        Without a ``val`` folder (or with ``use_val_folder=False``), the share of each class of
        ``train`` moved to validation, grouped by patient, drawn with ``seed``.
    skip_unreadable
        An unreadable or truncated image raises :class:`DataError` naming it; with True it is
        left out (image and label together) and named in a warning instead.
    cache
        Keep the decoded arrays in the cache directory, keyed by every file's path, size and
        modification time: the next load takes a fraction of a second.

    Non-image files (``.DS_Store``, ``Thumbs.db``) are skipped and counted in one warning.
    """
    if path is None:
        path = find_chest_xray(data_dir)
        if path is None:
            raise DataError(
                f"no chest X-ray folder ({' or '.join(CHEST_XRAY_FOLDERS)}) in "
                f"{resolve_data_dir(data_dir)}. {CHEST_XRAY_HOW_TO_GET}"
            )
    root = Path(path).resolve()
    height, width = (int(side) for side in image_size)
    if height < 1 or width < 1:
        raise DataError(f"image_size must be two positive integers, got {image_size!r}")
    splits, skipped = scan_chest_xray(root)
    if skipped:
        kinds = Counter(_kind_of_skipped(entry) for entry in skipped)
        warnings.warn(
            f"skipped {len(skipped)} non-image file(s) under {root}: "
            + ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items())),
            DataWarning,
            stacklevel=2,
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

    arrays = cached_arrays("chest_xray", key, decode, enabled=cache)
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
                stacklevel=2,
            )
        return train, val, test

    patients = [patient_id(splits["train"].paths[i]) for i in arrays["train_index"]]
    in_val = carve_validation(train[1], patients, val_fraction, seed)
    return (train[0][~in_val], train[1][~in_val]), (train[0][in_val], train[1][in_val]), test


def _stat(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


@register
class ChestXray(Dataset):
    """The chest X-ray folder: the lab's part 2, read from a folder the user downloads by hand."""

    info = CHEST_XRAY
    xrays = True
    lab_part = "xrays"
    reads_folder = True
    own_validation = True
    quick = {"dataset.train_limit": 400, "dataset.test_limit": 200, "training.epochs": 1,
             "training.warmup_epochs": 0.0}

    @property
    def how_to_get(self) -> str:
        return CHEST_XRAY_HOW_TO_GET

    def validation_sizes(self, section):
        # Carved from train by patient (the official val folder's 16 images are too few to judge by).
        train = self.info.n_samples["train"]
        validation = round(train * section["val_fraction"])
        return train - validation, validation

    def load(self, section, seed, data_dir, progress):
        return load_chest_xray(section["path"] or None, tuple(section["image_size"]), section["val_fraction"], seed,
                               data_dir=data_dir, progress=progress)

    def check(self, data_dir, download, progress) -> list[FileCheck]:
        root = find_chest_xray(data_dir)
        if root is None:
            where = resolve_data_dir(data_dir) / CHEST_XRAY_FOLDERS[0]
            return [FileCheck(CHEST_XRAY.name, where, MISSING, "not downloaded automatically", CHEST_XRAY_HOW_TO_GET)]
        try:
            splits, _ = scan_chest_xray(root)
        except DataError as error:
            return [FileCheck(CHEST_XRAY.name, root, CORRUPT, str(error))]
        found, differences = [], []
        for split, files in splits.items():
            counts = tuple(files.labels.count(label) for label in range(len(CHEST_XRAY.classes)))
            found.append(f"{split} {sum(counts)} ({' + '.join(map(str, counts))})")
            if counts != CHEST_XRAY.class_counts[split]:
                differences.append(f"{split} has {counts}, the official release {CHEST_XRAY.class_counts[split]}")
        summary = ", ".join(found) + " [NORMAL + PNEUMONIA]"
        if "val" not in splits:
            summary += "; no val folder: validation is carved from train"
        if differences:
            return [FileCheck(CHEST_XRAY.name, root, UNVERIFIED, f"{summary}; image counts differ: " + "; ".join(differences),
                              "usable, but results are not comparable with the published ones")]
        return [FileCheck(CHEST_XRAY.name, root, VERIFIED,
                          f"{summary}: layout and per-class counts match the official release")]
