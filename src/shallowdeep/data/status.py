"""What ``shallowdeep data`` reports: per dataset and file, where it is looked for and its state."""

from __future__ import annotations

import os
from collections.abc import Iterable

from shallowdeep.data.files import CORRUPT, MISSING, UNVERIFIED, VERIFIED, FileCheck
from shallowdeep.data.registry import dataset_names, get_dataset
from shallowdeep.errors import DataError

__all__ = ["CORRUPT", "MISSING", "UNVERIFIED", "VERIFIED", "FileCheck", "check_datasets"]


def check_datasets(
    names: Iterable[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    progress: bool = True,
) -> list[FileCheck]:
    """Check every file of the named datasets (default: all), downloading missing ones if asked."""
    names = list(names) if names else dataset_names()
    unknown = [name for name in names if name not in dataset_names()]
    if unknown:
        raise DataError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(dataset_names())}")
    datasets = [get_dataset(name) for name in names]
    return [check for dataset in datasets for check in dataset.check(data_dir, download, progress)]
