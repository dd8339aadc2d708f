"""What ``shallowdeep data`` reports: per dataset and file, where it is looked for and its state."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shallowdeep.data.chest_xray import find_chest_xray, scan_chest_xray
from shallowdeep.data.files import ensure_file, local_path, verify_file
from shallowdeep.data.info import (
    CHEST_XRAY, CHEST_XRAY_FOLDERS, CHEST_XRAY_HOW_TO_GET, DATASETS, MNIST, MNIST_KERAS_NPZ,
    PNEUMONIAMNIST, SYNTHDIGITS, DatasetInfo, RemoteFile,
)
from shallowdeep.data.mnist import mnist_source
from shallowdeep.errors import DataError
from shallowdeep.paths import resolve_data_dir

VERIFIED, MISSING, CORRUPT, UNVERIFIED = "verified", "missing", "corrupt", "unverified"


@dataclass(frozen=True)
class FileCheck:
    """The state of one file (or folder) of a dataset; ``fix`` says what to do when not verified."""

    dataset: str
    path: Path
    state: str
    detail: str = ""
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.state == VERIFIED


def _check_file(
    dataset: DatasetInfo, remote: RemoteFile, data_dir, download: bool, progress: bool
) -> FileCheck:
    path = local_path(dataset, remote, data_dir)
    algorithm, digest = remote.checksum
    if not path.is_file() and not download:
        return FileCheck(
            dataset.name, path, MISSING,
            f"will be downloaded on first use from {remote.urls[0]}",
            "run `shallowdeep data --download`, or put the file there by hand",
        )
    try:
        if path.is_file():
            verify_file(path, remote)
        else:
            ensure_file(dataset, remote, data_dir, progress=progress)
    except DataError as error:
        state = CORRUPT if path.is_file() else MISSING
        return FileCheck(dataset.name, path, state, str(error))
    return FileCheck(dataset.name, path, VERIFIED, f"{algorithm} {digest}")


def _check_mnist(data_dir, download: bool, progress: bool) -> list[FileCheck]:
    if mnist_source(data_dir) == "npz":
        return [_check_file(MNIST, MNIST_KERAS_NPZ, data_dir, False, progress)]
    return [_check_file(MNIST, remote, data_dir, download, progress) for remote in MNIST.files.values()]


def _check_pneumoniamnist(data_dir, download: bool, progress: bool) -> list[FileCheck]:
    # The 28 px file is the one the lab needs; larger sizes are reported when present.
    return [
        _check_file(PNEUMONIAMNIST, remote, data_dir, download and size == "28", progress)
        for size, remote in PNEUMONIAMNIST.files.items()
        if size == "28" or local_path(PNEUMONIAMNIST, remote, data_dir).is_file()
    ]


def _check_synthdigits() -> list[FileCheck]:
    remote = SYNTHDIGITS.files["test"]
    path = local_path(SYNTHDIGITS, remote, None)
    rebuild = f"reinstall shallowdeep, or rebuild it: `python -m shallowdeep.data.make_synthdigits --out {path}`"
    if not path.is_file():
        return [FileCheck(SYNTHDIGITS.name, path, MISSING, "shipped with shallowdeep, but not found", rebuild)]
    try:
        verify_file(path, remote)
    except DataError as error:
        return [FileCheck(SYNTHDIGITS.name, path, CORRUPT, str(error), rebuild)]
    return [FileCheck(SYNTHDIGITS.name, path, VERIFIED,
                      f"sha256 {remote.sha256}; made by shallowdeep, for evaluation only: {SYNTHDIGITS.how_made}")]


def _check_chest_xray(data_dir) -> list[FileCheck]:
    root = find_chest_xray(data_dir)
    if root is None:
        where = resolve_data_dir(data_dir) / CHEST_XRAY_FOLDERS[0]
        return [FileCheck(CHEST_XRAY.name, where, MISSING, "not downloaded automatically",
                          CHEST_XRAY_HOW_TO_GET)]
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
    summary = ", ".join(found) + (" [NORMAL + PNEUMONIA]")
    if "val" not in splits:
        summary += "; no val folder: validation is carved from train"
    if differences:
        return [FileCheck(CHEST_XRAY.name, root, UNVERIFIED,
                          f"{summary}; image counts differ: " + "; ".join(differences),
                          "usable, but results are not comparable with the published ones")]
    return [FileCheck(CHEST_XRAY.name, root, VERIFIED,
                      f"{summary}: layout and per-class counts match the official release")]


def check_datasets(
    names: Iterable[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    progress: bool = True,
) -> list[FileCheck]:
    """Check every file of the named datasets (default: all), downloading missing ones if asked."""
    names = list(names) if names else list(DATASETS)
    unknown = [name for name in names if name not in DATASETS]
    if unknown:
        raise DataError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}")
    checks: list[FileCheck] = []
    for name in names:
        if name == MNIST.name:
            checks += _check_mnist(data_dir, download, progress)
        elif name == PNEUMONIAMNIST.name:
            checks += _check_pneumoniamnist(data_dir, download, progress)
        elif name == SYNTHDIGITS.name:
            checks += _check_synthdigits()
        else:
            checks += _check_chest_xray(data_dir)
    return checks
