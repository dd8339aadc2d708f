"""PneumoniaMNIST (MedMNIST v2 at 28 px, MedMNIST+ at 64, 128 and 224 px) from its official ``.npz``.

The archive holds ``{train,val,test}_images`` (n, size, size) uint8 and ``{train,val,test}_labels``
(n, 1) uint8 with 0 = normal, 1 = pneumonia. It is read with ``allow_pickle=False``: an ``.npz`` may
otherwise run code on load.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from shallowdeep.data.files import FileCheck, check_file, ensure_file, local_path
from shallowdeep.data.info import PNEUMONIAMNIST
from shallowdeep.data.registry import Dataset, register
from shallowdeep.errors import DataError

SIZES = tuple(int(size) for size in PNEUMONIAMNIST.files)
SPLITS = ("train", "val", "test")

Splits = tuple[tuple[np.ndarray, np.ndarray], ...]


def read_medmnist_npz(path: str | os.PathLike, size: int) -> Splits:
    """Read and check a MedMNIST ``.npz``: keys, shapes and split sizes as in :mod:`info`."""
    path = Path(path)
    expected = [f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels")]
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in expected if key not in npz.files]
            if missing:
                raise DataError(
                    f"{path}: no array {', '.join(missing)}; a MedMNIST file has {', '.join(expected)}"
                )
            splits = tuple(
                (npz[f"{split}_images"], npz[f"{split}_labels"].reshape(-1)) for split in SPLITS
            )
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    for split, (images, labels) in zip(SPLITS, splits):
        n = PNEUMONIAMNIST.n_samples[split]
        if images.shape != (n, size, size) or labels.shape != (n,):
            raise DataError(
                f"{path}: {split} images have shape {images.shape} and labels {labels.shape}; "
                f"expected ({n}, {size}, {size}) and ({n},)"
            )
    return splits


def _diagnose(size: int):
    def diagnose(path: Path) -> str:
        try:
            read_medmnist_npz(path, size)
        except DataError as error:
            return str(error).removeprefix(f"{path}: ")
        return "it reads as a MedMNIST file, but its content differs from the official release"

    return diagnose


def load_pneumoniamnist(
    size: int = 28,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    progress: bool = True,
) -> Splits:
    """PneumoniaMNIST as ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``.

    Images are uint8 (n, size, size); labels uint8, 0 = normal and 1 = pneumonia; 4,708 / 524 /
    624 images. ``size`` is 28 (MedMNIST v2) or 64, 128, 224 (MedMNIST+). The file is read from
    ``<data_dir>/pneumoniamnist/`` and md5-checked; when missing it is downloaded from Zenodo.
    """
    if size not in SIZES:
        raise DataError(f"PneumoniaMNIST size {size!r} does not exist; choose one of {SIZES}")
    remote = PNEUMONIAMNIST.files[str(size)]
    path = ensure_file(
        PNEUMONIAMNIST, remote, data_dir, download=download, diagnose=_diagnose(size), progress=progress
    )
    return read_medmnist_npz(path, size)


@register
class PneumoniaMnist(Dataset):
    """PneumoniaMNIST: square chest X-rays at MedMNIST's sizes, with its own validation split."""

    info = PNEUMONIAMNIST
    xrays = True
    own_validation = True
    quick = {"dataset.train_limit": 1000, "dataset.test_limit": 300, "training.epochs": 1,
             "training.warmup_epochs": 0.0}

    def image_size_problem(self, size):
        if size[0] == size[1] and size[0] in SIZES:
            return None
        return f"a square size of PneumoniaMNIST: {', '.join(f'[{s}, {s}]' for s in SIZES)}"

    def load(self, section, seed, data_dir, progress, own_validation):
        return load_pneumoniamnist(section["image_size"][0], data_dir, progress=progress)

    def check(self, data_dir, download, progress) -> list[FileCheck]:
        # The 28 px file is the one the lab needs; larger sizes are reported when present.
        return [
            check_file(PNEUMONIAMNIST, remote, data_dir, download and size == "28", progress)
            for size, remote in PNEUMONIAMNIST.files.items()
            if size == "28" or local_path(PNEUMONIAMNIST, remote, data_dir).is_file()
        ]
