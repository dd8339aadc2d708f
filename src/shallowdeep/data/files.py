"""Finding a dataset file in the data directory, verifying it, downloading it when missing."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shallowdeep.data.download import candidate_urls, checksum_mismatch, fetch
from shallowdeep.data.info import DatasetInfo, RemoteFile
from shallowdeep.errors import DataError
from shallowdeep.paths import DATA_ENV, resolve_data_dir

#: Explains why a file is not the official one (e.g. "the gzip stream ends early"), or None.
Diagnosis = Callable[[Path], "str | None"]


def local_path(dataset: DatasetInfo, remote: RemoteFile, data_dir: str | os.PathLike | None) -> Path:
    """Where ``remote`` of ``dataset`` lives: inside the data directory, or inside the installed
    package for a dataset that ships with it."""
    if dataset.packaged:
        return Path(__file__).parent / remote.name
    return resolve_data_dir(data_dir) / dataset.folder / remote.name


def corrupt_file_error(path: Path, remote: RemoteFile, mismatch: str, diagnose: Diagnosis | None) -> DataError:
    reason = diagnose(path) if diagnose else None
    return DataError(
        f"{path} is not the official {remote.name}: {mismatch}.\n"
        f"{'What is wrong: ' + reason + chr(10) if reason else ''}"
        f"Fix: delete it and run again to download a fresh copy "
        f"(`shallowdeep data --download`), or replace it with the file from {remote.urls[0]}"
    )


def verify_file(path: Path, remote: RemoteFile, diagnose: Diagnosis | None = None) -> None:
    """Raise :class:`DataError` unless ``path`` has the official checksum of ``remote``."""
    mismatch = checksum_mismatch(path, remote)
    if mismatch:
        raise corrupt_file_error(path, remote, mismatch, diagnose)


def ensure_file(
    dataset: DatasetInfo,
    remote: RemoteFile,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    diagnose: Diagnosis | None = None,
    progress: bool = True,
) -> Path:
    """The verified local copy of ``remote``, downloading it first if it is missing.

    A file that is present is never overwritten: if its checksum is wrong the error says so
    and how to fix it, because it may be the user's own copy.
    """
    path = local_path(dataset, remote, data_dir)
    if path.is_file():
        verify_file(path, remote, diagnose)
        return path
    if not download:
        raise DataError(
            f"{path} is missing.\nFix: run `shallowdeep data --download`, or download it from "
            f"{remote.urls[0]} ({' '.join(remote.checksum)}) and save it there, "
            f"or set ${DATA_ENV} (or --data-dir) to a folder that has it."
        )
    return fetch(remote, path, urls=candidate_urls(remote, dataset.folder), progress=progress)


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


def check_file(
    dataset: DatasetInfo, remote: RemoteFile, data_dir, download: bool, progress: bool
) -> FileCheck:
    """The state of one downloadable file of ``dataset``, downloaded first if missing and asked to."""
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
