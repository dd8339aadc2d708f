"""The pediatric chest X-ray folder of Kermany et al. (2018), loaded as aligned arrays: an image
folder (:mod:`shallowdeep.data.folder`) with the classes NORMAL and PNEUMONIA.

Layout: ``<root>/{train,val,test}/{NORMAL,PNEUMONIA}/<image>``, folder names in any letter case,
``val`` optional; images are read as every image folder's are. Without a ``val`` folder, a
validation split is carved out of ``train``: stratified by class and grouped by patient (the file
names carry a patient id), so no patient is in both train and val.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from shallowdeep.data.files import CORRUPT, MISSING, UNVERIFIED, VERIFIED, FileCheck
from shallowdeep.data.folder import ImageFolder, ImageList, Splits, load_image_folder, scan_image_folder
from shallowdeep.data.info import CHEST_XRAY, CHEST_XRAY_FOLDERS, CHEST_XRAY_HOW_TO_GET
from shallowdeep.data.registry import register
from shallowdeep.errors import DataError
from shallowdeep.paths import resolve_data_dir

CLASS_NAMES = CHEST_XRAY.classes
_WHAT = "chest X-ray folder"


def find_chest_xray(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first of ``chest_xray``, ``chest_xray_224`` that exists in the data directory."""
    root = resolve_data_dir(data_dir)
    for name in CHEST_XRAY_FOLDERS:
        if (root / name).is_dir():
            return root / name
    return None


def scan_chest_xray(root: str | os.PathLike) -> tuple[dict[str, ImageList], list[Path]]:
    """The image files of each split present under ``root`` and the non-image files skipped
    (:func:`~shallowdeep.data.folder.scan_image_folder` with the classes NORMAL and PNEUMONIA)."""
    return scan_image_folder(root, CLASS_NAMES, what=_WHAT, how_to_get=CHEST_XRAY_HOW_TO_GET)


_PATIENT = re.compile(r"^(person\d+)_|^((?:NORMAL\d*-)?IM-\d+)-", re.IGNORECASE)


def patient_id(path: str | os.PathLike) -> str:
    """The patient a Kermany file name belongs to: ``person1000_bacteria_2931.jpeg`` ->
    ``person1000``, ``NORMAL2-IM-1427-0001.jpeg`` -> ``NORMAL2-IM-1427``; other names -> their stem."""
    name = Path(path).name
    match = _PATIENT.match(name)
    return next(group for group in match.groups() if group) if match else Path(name).stem


def _root(path: str | os.PathLike | None, data_dir: str | os.PathLike | None) -> Path:
    """``path``, or the chest X-ray folder found in the data directory."""
    if path:
        return Path(path)
    found = find_chest_xray(data_dir)
    if found is None:
        raise DataError(f"no chest X-ray folder ({' or '.join(CHEST_XRAY_FOLDERS)}) in "
                        f"{resolve_data_dir(data_dir)}. {CHEST_XRAY_HOW_TO_GET}")
    return found


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
    return load_image_folder(_root(path, data_dir), CLASS_NAMES, image_size, val_fraction, seed, groups=patient_id,
                             use_val_folder=use_val_folder, skip_unreadable=skip_unreadable, cache=cache,
                             cache_name="chest_xray", what=_WHAT, how_to_get=CHEST_XRAY_HOW_TO_GET,
                             progress=progress)


@register
class ChestXray(ImageFolder):
    """The chest X-ray folder: an image folder with fixed classes and patients, the lab's part 2,
    found in the data directory when no ``dataset.path`` names it (a manual download)."""

    info = CHEST_XRAY
    what = _WHAT
    xrays = True
    lab_part = "xrays"
    # 1,200 training X-rays: xray-best's 13 steps on 400 left its outputs a coin's toss (validation
    # AUC 0.47 in fp32 on an AMD EPYC Zen 3), and the quick best lab adapts it, which needs a model
    # that ranks its validation images the right way round (0.69-0.89 in fp32 over 3 seeds, 0.74 bf16).
    quick = {"dataset.train_limit": 1200, "dataset.test_limit": 200, "training.epochs": 1,
             "training.warmup_epochs": 0.0}

    @property
    def how_to_get(self) -> str:
        return CHEST_XRAY_HOW_TO_GET

    def resolve(self, section):
        return dict(section)  # fixed classes; the folder is found when the data is loaded

    def root(self, section, data_dir):
        return _root(section["path"], data_dir)

    def group_of(self, path):
        return patient_id(path)

    def sample_counts(self, section):
        return dict(self.info.n_samples)

    def validation_sizes(self, section):
        # Carved from train by patient (the official val folder's 16 images are too few to judge by).
        train = self.info.n_samples["train"]
        validation = round(train * section["val_fraction"])
        return train - validation, validation

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
