"""What ``shallowdeep data`` reports: per dataset and file, where it is looked for and its state."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shallowdeep.data.files import CORRUPT, MISSING, UNVERIFIED, VERIFIED, FileCheck
from shallowdeep.data.info import DatasetInfo
from shallowdeep.data.registry import dataset_names, get_dataset
from shallowdeep.errors import DataError
from shallowdeep.paths import describe_data_dir, resolve_cache_dir, resolve_data_dir

__all__ = ["CORRUPT", "MISSING", "UNVERIFIED", "VERIFIED", "DataStatus", "FileCheck", "check_datasets", "data_status"]


@dataclass(frozen=True)
class DataStatus:
    """Where data and derived data are kept, and the state of every file checked there."""

    data_dir: Path
    #: Where the data directory was taken from: given, ``$SHALLOWDEEP_DATA`` or the default.
    data_dir_source: str
    cache_dir: Path
    checks: list[FileCheck]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @staticmethod
    def info(name: str) -> DatasetInfo:
        return get_dataset(name).info


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


def data_status(
    names: Iterable[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    progress: bool = True,
) -> DataStatus:
    """:func:`check_datasets`, with where the data and cache directories are."""
    checks = check_datasets(names, data_dir, download=download, progress=progress)
    return DataStatus(resolve_data_dir(data_dir), describe_data_dir(data_dir), resolve_cache_dir(), checks)
